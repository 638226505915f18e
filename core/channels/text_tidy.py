"""Whitespace tidying shared by the email parser, HTML conversion and reply stripping."""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- whitespace

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f]")
_SPACES = re.compile(r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f]+")
_LINE_SEPARATORS = re.compile(r"\r\n|[\r\f\u2028\u2029\x85]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy(text: str) -> str:
    """Normalize newlines and spaces, drop control/zero-width characters and blank runs."""
    text = _LINE_SEPARATORS.sub("\n", text).translate(_INVISIBLE)
    text = _CONTROL.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
