"""The approval workflow as a table: which action moves a suggestion from which state."""

from __future__ import annotations

import re
from typing import Literal

Status = Literal["pending", "accepted", "edited", "rejected"]
Action = Literal["accept", "edit", "reject"]

TRANSITIONS: dict[tuple[str, str], Status] = {
    ("pending", "accept"): "accepted",
    ("pending", "edit"): "edited",
    ("pending", "reject"): "rejected",
}
STATUSES: tuple[Status, ...] = ("pending", "accepted", "edited", "rejected")


def next_status(current: str, action: Action) -> Status | None:
    """The state `action` leads to from `current`, or None when it is not allowed."""
    return TRANSITIONS.get((current, action))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters between the draft and the final text."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


_GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening))\b[^\n]{0,80}[,!]?$", re.I
)
_ACKNOWLEDGEMENT = re.compile(r"\b(I can see|I see) you\b", re.I)
_SIGN_OFF = re.compile(
    r"^(best|kind|warm)?\s*(regards|wishes)|^(thanks|thank you|cheers|sincerely)\b[^\n]{0,40}$",
    re.I,
)


def answer_part(text: str) -> str:
    """The reusable middle of a reply: without greeting, acknowledgement of a prior contact
    and sign-off (those are about one customer; the answer is about the question)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    if paragraphs and _GREETING.match(paragraphs[0].splitlines()[0]):
        first = paragraphs[0].splitlines()[1:]
        paragraphs = (["\n".join(first)] if first else []) + paragraphs[1:]
    paragraphs = [p for p in paragraphs if not _ACKNOWLEDGEMENT.search(p)]
    while paragraphs and _SIGN_OFF.match(paragraphs[-1].splitlines()[0]):
        paragraphs.pop()
    return "\n\n".join(paragraphs).strip() or text.strip()
