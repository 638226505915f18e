"""The agent console in a real headless Chromium against a real server with the demo loaded:
sign in, work the queue with the keyboard (accept, edit, reject, re-route), see each result on
the timeline, XSS payloads as text, live queue refresh, eval runs for knowledge managers."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.console.server import TEAM_AGENT_TEAMS, Console

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
    queued = pending(console)
    assert rows.count() == len(queued) > 4
    assert page.locator("#queue-scope").count() == 0, "a key without teams sees every team"
    priorities = [r.get_attribute("class") for r in rows.all()]
    ranks = [RANKS[re.search(r"prio-(\w+)", c or "").group(1)] for c in priorities]  # type: ignore[union-attr]
    assert ranks == sorted(ranks), "urgent first, then by waiting time"
    first = rows.first
    for cell in ("span.ch", "a.open", "meter"):
        assert first.locator(cell).count() == 1, cell
    # Every row shows the suggestion's intent, team and how long the customer has waited.
    cells = rows.evaluate_all(
        """rows => rows.map(r => ({id: r.dataset.id,
            intent: r.querySelector('td.intent').innerText.trim(),
            team: r.querySelector('td.team').innerText.trim(),
            age: r.querySelector('td.age').innerText.trim(),
            since: r.querySelector('td.age').title}))"""
    )
    assert [c["id"] for c in cells] == [s["id"] for s in queued], "the API's order"
    for cell, item in zip(cells, queued, strict=True):
        assert cell["intent"] == (item["intent"] or "—"), cell
        assert cell["team"] == (item["team"] or "—"), cell
        assert re.fullmatch(r"\d+[smhd]", cell["age"]), cell
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", cell["since"]), cell
    assert any(c["intent"] != "—" for c in cells)
    assert len({c["age"] for c in cells}) > 1, "the demo's messages waited for different times"
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

    # Filter by priority: exactly the API's suggestions of that priority stay.
    counts = Counter(str(s["priority"]) for s in queued)
    wanted = min((p for p in RANKS if counts[p]), key=lambda p: counts[p])
    assert counts[wanted] < len(queued), counts
    page.select_option("#filter-priority", wanted)
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(rf"priority={wanted}"))
    assert rows.count() == counts[wanted]
    assert page.locator(f"tr.queue-row.prio-{wanted}").count() == counts[wanted]
    assert rows.locator("td.priority").all_inner_texts() == [wanted] * counts[wanted]
    assert page.locator("#filter-priority").input_value() == wanted
    page.click("#filters a:has-text('Clear')")
    page.wait_for_url(re.compile(r"/console/queue$"))
    assert rows.count() == len(queued)

    # Filter by team, ticking boxes in the form: exactly the API's rows of those teams stay,
    # in the API's order, and the boxes stay ticked.
    teams = Counter(str(s["team"]) for s in queued)
    picked = sorted(t for t in teams if t != "None")[:2]
    assert picked and sum(teams[t] for t in picked) < len(queued), teams
    for team in picked:
        page.check(f"#filters input[name=team][value='{team}']")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(rf"team={picked[-1]}"))
    expected_ids = [s["id"] for s in queued if s["team"] in picked]
    assert [r.get_attribute("data-id") for r in rows.all()] == expected_ids
    assert set(rows.locator("td.team").all_inner_texts()) == set(picked)
    for team in picked:
        assert page.locator(f"#filters input[name=team][value='{team}']").is_checked()
    # `n` on the queue opens the first pending suggestion of the filtered queue.
    page.keyboard.press("n")
    page.wait_for_selector(f".conversation[data-suggestion='{expected_ids[0]}']")
    page.goto("/console/queue")
    assert rows.count() == len(queued)

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
    assert reply.locator(".dir").inner_text() == "→ outbound"
    assert timeline_item(page, ".current").locator(".dir").inner_text() == "← inbound"
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


def not_rerouted(api: Any, suggestion: dict[str, Any]) -> bool:
    """Whether the suggestion's message is still where the triage sent it (no agent re-route),
    so that its triage card tells the story as the page shows it."""
    message = api.get(f"/v1/messages/{suggestion['message_id']}").json()
    triage = message["triage"] or {}
    return bool(
        triage
        and message["team"] == triage["team"]["name"]
        and message["intent"] == triage["intent"]["label"]
    )


def test_conversation_shows_the_whole_story_and_citations(
    page: Any, console: Console, shots: Path
) -> None:
    with console.api() as api:
        candidates = [s for s in pending(console) if s["cited_chunks"] and not_rerouted(api, s)]
        assert candidates, "some demo drafts cite the knowledge base"
        timelines = {
            s["customer_id"]: api.get(f"/v1/customers/{s['customer_id']}/timeline").json()["items"]
            for s in candidates
        }
        # The customer with the most channels makes the best picture.
        best = max(
            candidates,
            key=lambda s: len(
                {i["channel"] for i in timelines[s["customer_id"]] if i["type"] == "message"}
            ),
        )
        triage = api.get(f"/v1/messages/{best['message_id']}").json()["triage"]
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
    # Each message says its direction in words, as the API has it, in the API's order.
    expected = [
        (i["id"], i["direction"]) for i in timelines[best["customer_id"]] if i["type"] == "message"
    ]
    shown = messages.evaluate_all(
        "items => items.map(i => [i.dataset.id, i.dataset.direction,"
        " i.querySelector('.dir').innerText.trim()])"
    )
    assert [(i, d) for i, d, _ in shown] == expected
    words = {"inbound": "← inbound", "outbound": "→ outbound"}
    assert all(text == words[d] for _, d, text in shown), shown
    assert "inbound" in {d for _, d in expected}
    assert page.locator("#customer .identities li").count() >= 1
    # The triage: intent and team with confidences, reasons, and the alternatives weighed.
    card = page.locator("#triage")
    assert card.inner_text().count("%") >= 2
    assert page.locator("#rerouted-to").count() == 0, "the picture shows an untouched triage"
    assert triage["intent"]["label"] in card.inner_text()
    assert page.locator("#triage .reasons li").count() == len(triage["reasons"]) >= 1
    alternatives = page.locator("#triage table.alternatives tr")
    assert triage["alternatives"], "the demo triage weighs alternatives"
    assert alternatives.count() == len(triage["alternatives"])
    first_alt = alternatives.first.locator("td").all_inner_texts()
    assert first_alt[0] == triage["alternatives"][0]["label"]
    assert re.fullmatch(r"\d+%", first_alt[2])
    citation = page.locator("details.citation").first
    assert not citation.locator(".passage").is_visible()
    citation.locator("summary").click()
    assert citation.locator(".passage").is_visible()
    assert citation.locator(".passage").inner_text().strip()
    assert re.search(r"KB version \d+", citation.locator(".kb-version").inner_text())
    # Related prior messages: exactly those the draft step put in the draft's context (stored
    # on the suggestion), each one of this customer's other messages.
    related = page.locator("#related li.related-item")
    assert related.count() >= 1
    assert page.locator("#related").get_attribute("data-source") == "stored"
    used = [r["message_id"] for r in best["related_used"]]
    assert [e.get_attribute("data-id") for e in related.all()] == used
    others = {i for i, _ in expected} - {best["message_id"]}
    for entry in related.all():
        assert entry.get_attribute("data-id") in others
        assert entry.locator(".text").inner_text().strip()
        assert re.search(r"score \d\.\d\d", entry.locator(".tl-meta").inner_text())
    page.set_viewport_size({"width": 1360, "height": 1250})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "console-conversation.png"), full_page=False)
    assert (shots / "console-conversation.png").stat().st_size > 10_000

    # A customer of a company account: the account and its attributes are on the page.
    with console.api() as api:
        of_account = [
            (s, customer)
            for s in pending(console)
            if (customer := api.get(f"/v1/customers/{s['customer_id']}").json())["account"]
        ]
    assert of_account, "the demo's c018 belongs to an account"
    suggestion, customer = of_account[0]
    page.goto(f"/console/suggestions/{suggestion['id']}")
    account = page.locator("#customer p.account")
    assert account.locator(".account-name").inner_text() == customer["account"]["name"]
    for name, value in customer["account"]["attributes"].items():
        assert f"{name}: {value}" in account.inner_text()


def test_team_agent_sees_their_teams_by_default(page: Any, console: Console) -> None:
    everything = pending(console)
    mine = [s for s in everything if s["team"] in TEAM_AGENT_TEAMS]
    assert 0 < len(mine) < len(everything), "the demo has work for these teams and others"
    sign_in(page, console.keys["team_agent"])
    page.wait_for_url(re.compile(r"/console/queue$"))
    rows = page.locator("tr.queue-row")
    assert page.locator("#scope-mine[aria-current=page]").count() == 1
    assert rows.count() == len(mine)
    assert set(rows.locator("td.team").all_inner_texts()) <= set(TEAM_AGENT_TEAMS)
    assert "for your teams" in page.locator("#queue-count").inner_text()
    page.click("#scope-all")
    page.wait_for_url(re.compile(r"scope=all"))
    assert page.locator("#scope-all[aria-current=page]").count() == 1
    assert rows.count() == len(everything)


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
