"""The agent console in a real headless Chromium against a real server with the demo loaded:
sign in, work the queue with the keyboard (accept, edit, reject, re-route), see each result on
the timeline, XSS payloads as text, live queue refresh, eval runs for knowledge managers."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.console.server import Console

ROOT = Path(__file__).resolve().parents[2]
RANKS = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


@pytest.fixture(scope="package")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: `docs/` with THREADLINE_SCREENSHOTS=1 (to refresh the README's),
    else a temporary folder (so that a test run leaves the checkout clean)."""
    if os.environ.get("THREADLINE_SCREENSHOTS") == "1":
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


def sign_in(page: Any, key: str) -> None:
    page.goto("/console/login")
    page.fill("#api_key", key)
    page.click("#login-form button[type=submit]")


def timeline_item(page: Any, selector: str) -> Any:
    return page.locator(f"#timeline li.tl-item{selector}")


def current_suggestion(page: Any) -> str:
    return str(page.locator(".conversation").get_attribute("data-suggestion"))


def pending(console: Console, status: str | None = "pending") -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 200} | ({"status": status} if status else {})
    with console.api() as api:
        response = api.get("/v1/suggestions", params=params)
        items: list[dict[str, Any]] = response.json()["items"]
    return items


def wait_done(page: Any, what: str) -> None:
    page.wait_for_selector(f"#action-done:has-text('Done: {what}.')")
    assert page.locator("#action-error").count() == 0


def test_agent_works_the_queue(page: Any, console: Console, shots: Path) -> None:
    sign_in(page, "tl_this-is-not-a-key")
    assert page.locator("#login-error").inner_text() == "Unknown or revoked API key."
    assert page.context.cookies() == []
    sign_in(page, console.keys["agent"])
    page.wait_for_url(re.compile(r"/console/queue$"))
    rows = page.locator("tr.queue-row")
    assert rows.count() == len(pending(console)) > 4
    priorities = [r.get_attribute("class") for r in rows.all()]
    ranks = [RANKS[re.search(r"prio-(\w+)", c or "").group(1)] for c in priorities]  # type: ignore[union-attr]
    assert ranks == sorted(ranks), "urgent first, then by waiting time"
    first = rows.first
    for cell in ("span.ch", "a.open", "meter"):
        assert first.locator(cell).count() == 1, cell
    page.screenshot(path=str(shots / "console-queue.png"), full_page=False)
    assert (shots / "console-queue.png").stat().st_size > 10_000

    # Filter by channel: only email rows stay.
    page.select_option("#filter-channel", "email")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"channel=email"))
    assert rows.count() > 0
    assert rows.locator("span.ch-email").count() == rows.count()
    page.click("#filters a:has-text('Clear')")
    page.wait_for_url(re.compile(r"/console/queue$"))

    # Keyboard: j selects the first row, Enter opens it.
    page.keyboard.press("j")
    assert page.locator("tr.queue-row.selected").count() == 1
    opened = str(page.locator("tr.queue-row.selected").get_attribute("data-id"))
    page.keyboard.press("Enter")
    page.wait_for_selector(f".conversation[data-suggestion='{opened}']")

    # Accept with `a`: the reply is on the timeline at once, as an outbound message.
    assert page.locator("#customer h2").inner_text().strip()
    assert timeline_item(page, ".current").count() == 1
    draft = page.locator("#draft-text").inner_text()
    page.keyboard.press("a")
    wait_done(page, "accepted")
    assert page.locator("#suggestion-status").inner_text() == "accepted"
    reply = timeline_item(page, ".reply")
    assert reply.count() == 1 and reply.get_attribute("data-direction") == "outbound"
    assert reply.locator(".text").inner_text().strip() == draft.strip()
    assert timeline_item(page, "[data-kind='suggestion.accepted']").count() == 1

    # `n` opens the next pending one; `e` edits in place, Ctrl+Enter sends.
    page.keyboard.press("n")
    page.wait_for_selector(f".conversation:not([data-suggestion='{opened}'])")
    edited = current_suggestion(page)
    page.keyboard.press("e")
    area = page.locator("#edit-text")
    assert area.is_visible() and not page.locator("#draft-text").is_visible()
    area.fill("Hello,\n\nEdited in the console: your refund is on its way.\n\nBest regards")
    area.press("Control+Enter")
    wait_done(page, "edited")
    assert current_suggestion(page) == edited
    reply = timeline_item(page, ".reply")
    assert "Edited in the console: your refund is on its way." in reply.inner_text()
    assert timeline_item(page, "[data-kind='suggestion.edited']").count() == 1

    # `r` focuses the reason; Enter rejects.
    page.keyboard.press("n")
    page.wait_for_selector(f".conversation:not([data-suggestion='{edited}'])")
    rejected = current_suggestion(page)
    page.keyboard.press("r")
    page.keyboard.type("Customer already called; handled on the phone")
    page.keyboard.press("Enter")
    wait_done(page, "rejected")
    event = timeline_item(page, "[data-kind='suggestion.rejected']")
    assert "Customer already called; handled on the phone" in event.inner_text()
    assert timeline_item(page, ".reply").count() == 0

    # `t` focuses the team; re-route to another team and intent.
    page.keyboard.press("n")
    page.wait_for_selector(f".conversation:not([data-suggestion='{rejected}'])")
    rerouted = current_suggestion(page)
    page.keyboard.press("t")
    team = page.locator("#reroute-team")
    assert team.evaluate("el => el === document.activeElement")
    before = team.input_value()
    target = "tech_support" if before != "tech_support" else "orders_shipping"
    team.select_option(target)
    intent = page.locator(f"#reroute-intent optgroup[label='{target}'] option").first
    intent_name = str(intent.get_attribute("value"))
    page.select_option("#reroute-intent", intent_name)
    page.fill("#reroute-reason", "Device question, not an order")
    page.click("#reroute-button")
    wait_done(page, "rerouted")
    event = timeline_item(page, "[data-kind='rerouted']")
    assert event.count() == 1 and target in event.inner_text()
    assert page.locator("#reroute-team").input_value() == target
    assert f"to {target} / {intent_name}" in page.locator("#rerouted-to").inner_text()

    # The JSON API agrees with what the page showed.
    with console.api() as api:
        states = {
            sid: api.get(f"/v1/suggestions/{sid}").json()
            for sid in (opened, edited, rejected, rerouted)
        }
        moved = api.get(f"/v1/messages/{states[rerouted]['message_id']}").json()
    assert [states[s]["status"] for s in (opened, edited, rejected, rerouted)] == [
        "accepted",
        "edited",
        "rejected",
        "pending",
    ]
    assert states[rejected]["reject_reason"] == "Customer already called; handled on the phone"
    assert (moved["team"], moved["intent"]) == (target, intent_name)
    assert (states[rerouted]["team"], states[rerouted]["intent"]) == (target, intent_name)

    # Decided suggestions leave the queue.
    page.click("#back-to-queue")
    page.wait_for_url(re.compile(r"/console/queue"))
    shown = {r.get_attribute("data-id") for r in page.locator("tr.queue-row").all()}
    assert opened not in shown and edited not in shown and rejected not in shown
    assert rerouted in shown
    # A re-routed suggestion moves to its new team's queue.
    page.goto(f"/console/queue?team={target}")
    row = page.locator(f"tr.queue-row[data-id='{rerouted}']")
    assert row.count() == 1 and target in row.inner_text() and intent_name in row.inner_text()

    # Sign out: the session is gone.
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/console/login$"))
    page.goto("/console/queue")
    assert page.url.endswith("/console/login")


def test_conversation_shows_the_whole_story_and_citations(
    page: Any, console: Console, shots: Path
) -> None:
    candidates = [s for s in pending(console) if s["cited_chunks"]]
    assert candidates, "some demo drafts cite the knowledge base"
    # The customer with the most channels makes the best picture.
    with console.api() as api:
        best = max(
            candidates,
            key=lambda s: len(
                {
                    i["channel"]
                    for i in api.get(f"/v1/customers/{s['customer_id']}/timeline").json()["items"]
                    if i["type"] == "message"
                }
            ),
        )
    sign_in(page, console.keys["agent"])
    page.wait_for_url(re.compile(r"/console/queue$"))
    page.goto(f"/console/suggestions/{best['id']}")
    messages = page.locator("#timeline li.tl-message")
    assert messages.count() >= 2
    channels = {c.get_attribute("class") for c in messages.locator("span.ch").all()}
    assert len(channels) >= 2, "the timeline spans channels"
    for item in messages.all()[:3]:
        meta = item.locator(".tl-meta").inner_text()
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", meta) and re.search(r"[A-Z]+-\w+", meta)
        assert "in" in meta or "out" in meta
    assert page.locator("#customer .identities li").count() >= 1
    assert page.locator("#triage").inner_text().count("%") >= 2
    assert page.locator("#triage .reasons li").count() >= 1
    citation = page.locator("details.citation").first
    assert not citation.locator(".passage").is_visible()
    citation.locator("summary").click()
    assert citation.locator(".passage").is_visible()
    assert citation.locator(".passage").inner_text().strip()
    assert re.search(r"KB version \d+", citation.locator(".kb-version").inner_text())
    assert page.locator("#related").is_visible()
    page.set_viewport_size({"width": 1360, "height": 1250})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "console-conversation.png"), full_page=False)
    assert (shots / "console-conversation.png").stat().st_size > 10_000


def test_customer_html_renders_as_text(page: Any, console: Console) -> None:
    payload = [s for s in pending(console, None) if s["channel"] == "web_form"]
    with console.api() as api:
        hostile = [
            s
            for s in payload
            if "<script>" in api.get(f"/v1/messages/{s['message_id']}").json()["text"]
        ]
    assert hostile, "the demo's HTML/script payload (c040) has a suggestion"
    sign_in(page, console.keys["agent"])
    page.wait_for_url(re.compile(r"/console/queue$"))
    page.goto(f"/console/suggestions/{hostile[0]['id']}")
    shown = page.locator("#message-text").inner_text()
    assert "<script>alert(1)</script>" in shown
    assert "<img src=x onerror=alert(document.cookie)>" in shown
    assert page.locator("main script").count() == 0
    assert page.locator("main img").count() == 0
    current = page.locator("#timeline li.tl-message.current .text").inner_text()
    assert "<script>alert(1)</script>" in current
    # The page fixture fails the test if any dialog opened (alert) or a script error happened.


def test_queue_refreshes_without_a_reload(page: Any, console: Console) -> None:
    sign_in(page, console.keys["agent"])
    page.wait_for_url(re.compile(r"/console/queue$"))
    page.evaluate("window.__notReloaded = true")
    with console.api("integration") as api:
        sent = api.post(
            "/v1/messages",
            params={"wait": "true"},
            json={
                "channel": "whatsapp",
                "sender": {"phone": "+1 206 555 0187", "name": "Zora Refresh"},
                "text": "My Lumen 900 headlamp stopped charging over USB-C. Can you help?",
            },
        )
    assert sent.status_code in (200, 202), sent.text  # 202: still processing (a busy machine)
    page.wait_for_selector("tr.queue-row:has-text('Zora Refresh')", timeout=90000)
    assert page.evaluate("window.__notReloaded") is True


def test_knowledge_manager_sees_eval_runs(page: Any, console: Console) -> None:
    from core.evaluation.service import create_run

    with console.container.session() as session:
        run = create_run(
            session,
            suite_name="demo-consistency",
            suite_hash="0" * 64,
            suite_source="evals/suites/demo.yaml",
            suite_yaml="name: demo-consistency\n",
            options={"repeat": 1},
            now=console.container.clock.now(),
        )
        run.status = "done"
        run.summary = {"passed": True, "consistency": 0.93}
        run.report_html = "<h1>Consistency report</h1><script>alert('report')</script>"
        run_id = run.id
        session.commit()
    sign_in(page, console.keys["knowledge_manager"])
    page.wait_for_url(re.compile(r"/console/evals$"))
    row = page.locator(f"#eval-runs tr[data-id='{run_id}']")
    assert "demo-consistency" in row.inner_text() and "done" in row.inner_text()
    assert "passed" in row.inner_text()
    href = row.locator("a").get_attribute("href")
    assert href == f"/console/evals/{run_id}/report"
    page.goto(href)
    assert page.locator("h1").inner_text() == "Consistency report"  # its script is sandboxed
    page.goto("/console/queue")
    assert "only agents" in page.locator(".error").inner_text()
