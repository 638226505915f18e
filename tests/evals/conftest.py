"""A tiny suite (2 clusters × 2 variants) over a tmp KB of two demo articles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
XSS = "<script>alert(1)</script>"

TINY = """
name: tiny
description: two clusters, one of them deliberately inconsistent
kb: {kb}
customers:
  new: {{sender: {{email: alex.new@example.com, name: Alex Doe}}}}
  returning:
    sender: {{email: sam@example.com, name: Sam Roe}}
    prior:
      - channel: facebook
        text: "I want to return my jacket, how do I do that?"
        hours_ago: 20
clusters:
  - id: return-window
    expected_articles: [returns-window]
    expected_team: returns_refunds
    expected_intent: return_request
    expected_facts: ["30 days"]
    variants:
      - id: email-new
        channel: email
        customer: new
        text: "How long do I have to return an item? {xss}"
      - id: chat-returning
        channel: chat
        customer: returning
        text: "how many days do I have to return a jacket?"
  - id: mixed-up
    expected_articles: [returns-window]
    expected_facts: ["30 days"]
    variants:
      - id: email-returns
        channel: email
        customer: new
        text: "How many days do I have to send an item back?"
      - id: sms-parcel
        channel: sms
        customer: new
        text: "My parcel never arrived and tracking is stuck"
"""


@pytest.fixture
def tiny_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    kb.mkdir()
    for name in ("returns-refunds/returns-window.md", "shipping/lost-parcel.md"):
        shutil.copy(ROOT / "demo/kb" / name, kb)
    return kb


@pytest.fixture
def tiny_suite_text(tiny_kb: Path) -> str:
    return TINY.format(kb=tiny_kb, xss=XSS)


@pytest.fixture
def tiny_suite(tmp_path: Path, tiny_suite_text: str) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_suite_text, encoding="utf-8")
    return path
