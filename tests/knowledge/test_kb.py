"""KB ingest (idempotent, versioned, pruned) and hybrid search, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.container import Container
from core.knowledge.schemas import SearchIn
from core.knowledge.service import COLLECTION
from kb_ingest.pipeline import IngestOptions
from tests.helpers import Api
from workers.kb import ingest_files

RETURNS = """---
id: returns-window
title: How long do I have to return an item?
tags: [returns, policy]
audience: public
language: en
url: https://help.example/returns
---
# How long do I have to return an item?

## The return window

You can return any item within 30 days of delivery. The item must be unused.

## Refund timing

We refund within 5 business days after the return reaches our warehouse.
"""

LOST = """---
id: lost-parcel
title: My parcel is lost
tags: [shipping]
---
# My parcel is lost

If tracking has not moved for 7 days we open a trace with the carrier and ship a
replacement within 48 hours.
"""

GOODWILL = """---
id: goodwill-credit
title: Goodwill credit guidelines for agents
tags: [policy]
audience: internal
---
# Goodwill credit

Agents may offer a goodwill credit of up to 15 euros for a late parcel.
"""

GERMAN = """---
id: ruecksendung
title: Rücksendung
language: de
tags: [returns]
---
# Rücksendung

Sie können Artikel innerhalb von 30 Tagen nach Lieferung zurücksenden.
"""

FAQ = (
    "\ufeffid,question,answer,tags\n"
    'faq-gift,Do you sell gift cards?,"Yes, from 10 to 200 euros.\nThey never expire.",payments\n'
)


def write_kb(root: Path) -> Path:
    kb = root / "kb"
    (kb / "returns").mkdir(parents=True)
    (kb / "shipping").mkdir()
    (kb / "internal").mkdir()
    (kb / "returns" / "window.md").write_text(RETURNS)
    (kb / "returns" / "de.md").write_text(GERMAN)
    (kb / "shipping" / "lost.md").write_text(LOST)
    (kb / "internal" / "goodwill.md").write_text(GOODWILL)
    (kb / "faq.csv").write_text(FAQ, encoding="utf-8")
    (kb / "empty.txt").write_text("  \n")
    (kb / "notes.docx").write_bytes(b"PK\x03\x04 not really")
    (kb / "broken.csv").write_text("question,reply\nA?,B\n")
    return kb


def counts(c: Container) -> tuple[int, int]:
    from sqlalchemy import func, select

    from core.knowledge.models import KbChunk

    with c.session(write=False) as s:
        rows = s.scalar(select(func.count()).select_from(KbChunk)) or 0
    return rows, c.vector_store.count(COLLECTION)


def search(c: Container, query: str, **kw: object) -> list[str]:
    with c.session(write=False) as s:
        out = c.knowledge_search(s).search(SearchIn.model_validate({"query": query, **kw}))
    return [h.document_id for h in out.hits]


def test_ingest_is_idempotent_versioned_and_prunable(container: Container, tmp_path: Path) -> None:
    kb = write_kb(tmp_path)
    first = ingest_files(container, [kb], IngestOptions())
    assert first.changed and first.kb_version == 1
    assert first.documents_added == 5
    reasons = {f.source: f.reason for f in first.files if f.status == "skipped"}
    assert set(reasons) == {"empty.txt", "notes.docx", "broken.csv"}
    assert "empty" in reasons["empty.txt"]
    assert "unsupported" in reasons["notes.docx"]
    assert "answer" in reasons["broken.csv"]
    chunks = counts(container)
    assert chunks[0] == chunks[1] == first.chunks_added

    again = ingest_files(container, [kb], IngestOptions())
    assert not again.changed and again.kb_version == 1
    assert again.chunks_embedded == 0 and again.documents_unchanged == 5
    assert counts(container) == chunks

    # One section changes: exactly that chunk is replaced.
    (kb / "returns" / "window.md").write_text(RETURNS.replace("5 business days", "3 business days"))
    changed = ingest_files(container, [kb], IngestOptions())
    assert changed.kb_version == 2 and changed.documents_updated == 1
    assert (changed.chunks_added, changed.chunks_removed, changed.chunks_embedded) == (1, 1, 1)
    assert counts(container) == chunks

    # A file disappears: kept without --prune, removed with it.
    (kb / "shipping" / "lost.md").unlink()
    kept = ingest_files(container, [kb], IngestOptions())
    assert not kept.changed
    pruned = ingest_files(container, [kb], IngestOptions(), prune=True)
    assert pruned.kb_version == 3 and pruned.documents_removed == 1
    assert counts(container)[0] == counts(container)[1] < chunks[0]
    assert "lost-parcel" not in search(container, "parcel lost tracking")


def test_search_filters_and_internal_rule(container: Container, tmp_path: Path) -> None:
    ingest_files(container, [write_kb(tmp_path)], IngestOptions())
    hits = search(container, "how many days to send something back", k=3)
    assert hits[0] == "returns-window"
    assert "goodwill-credit" not in search(container, "goodwill credit late parcel", k=10)
    assert search(container, "goodwill credit", k=1, filters={"audience": "all"}) == [
        "goodwill-credit"
    ]
    assert search(container, "goodwill credit", k=1, filters={"audience": "internal"}) == [
        "goodwill-credit"
    ]
    assert set(search(container, "return", k=10, filters={"language": "de"})) == {"ruecksendung"}
    assert set(search(container, "money", k=10, filters={"tags": ["payments"]})) == {"faq-gift"}
    for mode in ("dense", "lexical"):
        assert search(container, "gift cards", k=1, mode=mode) == ["faq-gift"]
    # The FAQ answer kept its quoted newline and comma.
    with container.session(write=False) as s:
        out = container.knowledge_search(s).search(SearchIn(query="gift cards", k=1))
    assert "200 euros.\nThey never expire" in out.hits[0].text
    assert out.hits[0].kb_version == 1


def test_kb_api(api: Api, container: Container, tmp_path: Path) -> None:
    up = api.client.post(
        "/v1/kb/documents",
        headers=api.headers("knowledge_manager"),
        files=[
            ("files", ("window.md", RETURNS.encode(), "text/markdown")),
            ("files", ("junk.docx", b"xx", "application/octet-stream")),
        ],
        data={"tags": "policy-2026"},
    )
    assert up.status_code == 200, up.text
    report = up.json()
    assert report["documents_added"] == 1 and report["skipped"] == 1
    listed = api.get("/v1/kb/documents", role="agent").json()
    assert [d["id"] for d in listed["items"]] == ["returns-window"]
    assert "policy-2026" in listed["items"][0]["tags"]
    detail = api.get("/v1/kb/documents/returns-window").json()
    assert detail["chunks"] and detail["versions"][0]["action"] == "added"
    assert detail["chunks"][0]["heading_path"]
    found = api.post(
        "/v1/kb/search", role="integration", json={"query": "refund how long", "k": 2}
    ).json()
    assert found["hits"][0]["document_id"] == "returns-window"
    assert found["hits"][0]["url"] == "https://help.example/returns"
    # Roles and bad input.
    forbidden = api.client.post(
        "/v1/kb/documents",
        headers=api.headers("agent"),
        files=[("files", ("a.md", b"# A\n\ntext", "text/markdown"))],
    )
    assert forbidden.status_code == 403
    assert api.post("/v1/kb/search", json={"query": "x", "k": 0}).status_code == 422
    assert api.post("/v1/kb/search", json={"query": ""}).status_code == 422
    assert (
        api.post("/v1/kb/search", json={"query": "x", "filters": {"audience": "vip"}}).status_code
        == 422
    )
    assert api.get("/v1/kb/documents/nope").status_code == 404
    # Delete: a new version, gone from search.
    deleted = api.client.delete(
        "/v1/kb/documents/returns-window", headers=api.headers("knowledge_manager")
    )
    assert deleted.status_code == 200 and deleted.json()["kb_version"] == 2
    assert api.get("/v1/kb/documents/returns-window").status_code == 404
    assert api.post("/v1/kb/search", json={"query": "refund"}).json()["hits"] == []
    assert (
        api.client.delete(
            "/v1/kb/documents/returns-window", headers=api.headers("knowledge_manager")
        ).status_code
        == 404
    )


def test_large_upload_is_ingested_by_a_worker(api: Api, container: Container) -> None:
    container.settings.kb_sync_upload_bytes = 10
    container.settings.kb_max_file_bytes = 5000
    resp = api.client.post(
        "/v1/kb/documents",
        headers=api.headers("knowledge_manager"),
        files=[
            ("files", ("lost.md", LOST.encode(), "text/markdown")),
            ("files", ("huge.md", b"# Huge\n\n" + b"word " * 2000, "text/markdown")),
        ],
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert [s["source"] for s in body["skipped"]] == ["huge.md"]
    assert "limit" in body["skipped"][0]["reason"]
    upload_id = body["uploads"][0]["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = api.get(f"/v1/kb/uploads/{upload_id}", role="agent").json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert status["status"] == "done", status
    assert status["report"]["documents_added"] == 1
    assert api.get("/v1/kb/documents/lost-parcel").status_code == 200


@pytest.mark.parametrize("name", ["x.pdf"])
def test_unreadable_pdf_upload_is_reported(api: Api, name: str) -> None:
    resp = api.client.post(
        "/v1/kb/documents",
        headers=api.headers("knowledge_manager"),
        files=[("files", (name, b"%PDF-1.4 garbage", "application/pdf"))],
    )
    assert resp.status_code == 200
    assert resp.json()["files"][0]["status"] == "skipped"
    assert resp.json()["changed"] is False
