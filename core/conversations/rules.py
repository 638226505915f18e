"""Pure rules of threading: conversation references and where a message belongs."""

from __future__ import annotations

import re
import secrets

# Crockford-style alphabet without 0/O, 1/I/L: easy to read aloud and to type from a phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 5


def new_reference(prefix: str) -> str:
    """A short human reference such as TL-7Q3K9."""
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"{prefix}-{body}"


def reference_pattern(prefix: str) -> re.Pattern[str]:
    """Finds references of this prefix in free text (case-insensitive, e.g. 'tl-7q3k9')."""
    return re.compile(
        rf"(?<![A-Za-z0-9]){re.escape(prefix)}-([{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}})(?![A-Za-z0-9])",
        re.IGNORECASE,
    )


def find_references(prefix: str, *texts: str | None) -> list[str]:
    """Every reference mentioned in the texts, normalized to upper case, in order."""
    pattern = reference_pattern(prefix)
    found: list[str] = []
    for text in texts:
        for match in pattern.finditer(text or ""):
            ref = f"{prefix}-{match.group(1).upper()}"
            if ref not in found:
                found.append(ref)
    return found
