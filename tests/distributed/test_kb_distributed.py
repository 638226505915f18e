"""The KB on the distributed engine: a Celery worker ingests an upload into the Chroma server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.container import Container
from tests.distributed.support import Stack, StartWorker, make_api, wait_until
from tests.helpers import Api

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ARTICLE = b"""---
id: lost-parcel
title: My parcel is lost
tags: [shipping]
---
# My parcel is lost

If tracking has not moved for 7 days we open a trace with the carrier.

## Replacement

We ship a replacement within 48 hours once the trace confirms the loss.
"""


@pytest.fixture
def small_sync_api(stack: Stack) -> Iterator[Api]:
    """The API with every upload handed to a worker (no upload is small enough)."""
    with make_api(Container(stack.settings(kb_sync_upload_bytes=0))) as api:
        yield api


def test_upload_is_ingested_by_a_celery_worker(
    stack: Stack, start_worker: StartWorker, small_sync_api: Api
) -> None:
    start_worker()
    api = small_sync_api
    resp = api.client.post(
        "/v1/kb/documents",
        headers=api.headers("knowledge_manager"),
        files=[("files", ("lost.md", ARTICLE, "text/markdown"))],
    )
    assert resp.status_code == 202, resp.text
    upload_id = resp.json()["uploads"][0]["id"]

    def done() -> bool:
        status = api.get(f"/v1/kb/uploads/{upload_id}").json()["status"]
        assert status != "failed", api.get(f"/v1/kb/uploads/{upload_id}").json()
        return bool(status == "done")

    wait_until(done, 90, "the worker to ingest the upload", 0.25)
    report = api.get(f"/v1/kb/uploads/{upload_id}").json()["report"]
    assert report["kb_version"] == 1 and report["chunks_added"] == 2
    # Vectors are on the Chroma server, and the API process searches them.
    collection = stack.chroma.client().get_collection("kb_chunks")
    assert collection.count() == 2
    hits = api.post("/v1/kb/search", json={"query": "the box never showed up", "k": 2}).json()
    assert hits["hits"][0]["document_id"] == "lost-parcel"
    assert hits["hits"][0]["kb_version"] == 1
