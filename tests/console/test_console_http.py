"""The console's sign-in, session cookie, CSRF defence and error pages, over real HTTP."""

from __future__ import annotations

import html
import re

import httpx

from api.console.session import COOKIE, csrf_token
from tests.console.server import TEAM_AGENT_TEAMS, Console


def signed_in(console: Console, role: str = "agent") -> httpx.Client:
    """A client that signed in through the form (holds the session cookie)."""
    client = httpx.Client(base_url=console.url, timeout=60)
    response = client.post("/console/login", data={"api_key": console.keys[role]})
    assert response.status_code == 303, response.text
    return client


def first_pending(console: Console) -> str:
    with console.api() as api:
        items = api.get("/v1/suggestions", params={"status": "pending"}).json()["items"]
    assert items
    return str(items[-1]["id"])


def test_sign_in_sets_a_strict_http_only_cookie(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=60) as client:
        response = client.post("/console/login", data={"api_key": console.keys["agent"]})
        assert response.status_code == 303 and response.headers["location"] == "/console"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "SameSite=strict", "Secure", "Path=/console"):
            assert flag.lower() in cookie.lower(), cookie
        # The cookie holds a server-side session's token, not the API key.
        token = response.cookies.get(COOKIE)
        assert token and token != console.keys["agent"]
        # `Secure` cookies are sent back over plain HTTP to loopback by browsers, not by httpx.
        client.cookies.set(COOKIE, token, domain="127.0.0.1", path="/console")
        queue = client.get("/console/queue")
        assert queue.status_code == 200 and "Suggested replies" in queue.text
        csp = queue.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert queue.headers["cache-control"] == "no-store"
        assert "https://" not in queue.text, "every asset is served by Threadline"
        assert client.get("/console").headers["location"] == "/console/queue"


def test_wrong_keys_show_an_error_on_the_form(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=60) as client:
        wrong = client.post("/console/login", data={"api_key": "tl_not-a-key"})
        assert wrong.status_code == 401 and "Unknown or revoked API key." in wrong.text
        assert "set-cookie" not in wrong.headers
        empty = client.post("/console/login", data={"api_key": "   "})
        assert empty.status_code == 422 and "Enter your API key." in empty.text
        missing = client.post("/console/login")
        assert missing.status_code == 422
        integration = client.post("/console/login", data={"api_key": console.keys["integration"]})
        assert integration.status_code == 403 and "cannot use the console" in integration.text
        long = client.post("/console/login", data={"api_key": "x" * 5000})
        assert long.status_code == 422


def test_pages_need_a_session(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=60) as client:
        for path in ("/console", "/console/queue", "/console/evals", "/console/next"):
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/login"
        htmx = client.get("/console/queue/section", headers={"HX-Request": "true"})
        assert htmx.headers.get("hx-redirect") == "/console/login"
    # A made-up token, or an API key itself in the cookie, is no session.
    for value in ("tl_revoked-or-made-up", console.keys["agent"]):
        with httpx.Client(base_url=console.url, timeout=60, cookies={COOKIE: value}) as client:
            assert client.get("/console/queue").status_code == 303


def test_posts_need_the_csrf_token_and_our_origin(console: Console) -> None:
    sid = first_pending(console)
    key = console.sign_in("agent")  # the session token: the CSRF token is derived from it
    cookies = {COOKIE: key}
    with httpx.Client(base_url=console.url, timeout=60, cookies=cookies) as client:
        no_token = client.post(f"/console/suggestions/{sid}/accept")
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        wrong = client.post(f"/console/suggestions/{sid}/accept", data={"csrf": "0" * 64})
        assert wrong.status_code == 403
        other_site = client.post(
            f"/console/suggestions/{sid}/reject",
            data={"csrf": csrf_token(key), "reason": "x"},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403 and "another origin" in other_site.text
        with console.api() as api:
            assert api.get(f"/v1/suggestions/{sid}").json()["status"] == "pending"
        # A bad reason is a 422 on the page, not a 500; the suggestion stays pending.
        blank = client.post(
            f"/console/suggestions/{sid}/reject", data={"csrf": csrf_token(key), "reason": " "}
        )
        assert blank.status_code == 422 and "The reason" in blank.text
        bad_team = client.post(
            f"/console/suggestions/{sid}/reroute",
            data={"csrf": csrf_token(key), "team": "no_such_team"},
        )
        assert bad_team.status_code == 422 and "unknown team" in bad_team.text
        missing = client.post("/console/suggestions/nope/accept", data={"csrf": csrf_token(key)})
        assert missing.status_code == 404 and "does not exist" in missing.text
        assert client.get("/console/suggestions/nope").status_code == 404
        assert client.get("/console/evals").status_code == 403  # an agent is not a manager
        out = client.post("/console/logout", data={"csrf": csrf_token(key)})
        assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    # Signed out server-side: a copy of the cookie no longer works.
    with httpx.Client(base_url=console.url, timeout=60, cookies=cookies) as client:
        assert client.get("/console/queue").headers["location"] == "/console/login"


def queue_rows(html: str) -> list[tuple[str, str]]:
    """(suggestion id, team cell) of each queue row of a page."""
    return re.findall(
        r'<tr class="queue-row[^"]*" data-id="([^"]+)".*?<td class="team">([^<]*)</td>',
        html,
        flags=re.S,
    )


def test_queue_defaults_to_the_agents_teams_and_can_show_all(console: Console) -> None:
    with console.api() as api:
        everything = api.get("/v1/suggestions", params={"status": "pending", "limit": 200})
        everything_ids = [s["id"] for s in everything.json()["items"]]
        # A key without teams: `team=mine` is every team.
        teamless = api.get("/v1/suggestions", params={"status": "pending", "team": "mine"})
        assert teamless.json()["total"] == everything.json()["total"]
    with console.api("team_agent") as api:
        page = api.get(
            "/v1/suggestions", params={"status": "pending", "team": "mine", "limit": 200}
        )
        assert page.status_code == 200, page.text
        mine = page.json()["items"]
    assert mine and {s["team"] for s in mine} <= set(TEAM_AGENT_TEAMS)
    mine_ids = [s["id"] for s in mine]
    assert mine_ids == [i for i in everything_ids if i in set(mine_ids)]
    assert len(mine_ids) < len(everything_ids), "other teams have pending work too"

    cookies = {COOKIE: console.sign_in("team_agent")}
    with httpx.Client(base_url=console.url, timeout=60, cookies=cookies) as client:
        default = client.get("/console/queue")
        assert default.status_code == 200
        assert [i for i, _ in queue_rows(default.text)] == mine_ids
        assert {t for _, t in queue_rows(default.text)} <= set(TEAM_AGENT_TEAMS)
        assert 'id="scope-mine" class="on" aria-current="page"' in default.text
        assert "for your teams" in default.text
        for team in TEAM_AGENT_TEAMS:  # the key's teams are ticked in the form
            assert f'value="{team}" checked' in default.text
        # The live refresh and "next" keep to the key's teams.
        poll = re.search(r'hx-get="([^"]+)"', default.text)
        assert poll and "scope" not in poll.group(1) and "team=" not in poll.group(1)
        section = client.get(re.sub(r"[?&]v=\w+", "", html.unescape(poll.group(1))))
        assert section.status_code == 200
        assert [i for i, _ in queue_rows(section.text)] == mine_ids
        nxt = client.get("/console/next")
        assert nxt.headers["location"].split("?")[0] == f"/console/suggestions/{mine_ids[0]}"

        # All teams, one click away; the scope survives the links and the refresh.
        every = client.get("/console/queue", params={"scope": "all"})
        assert [i for i, _ in queue_rows(every.text)] == everything_ids
        assert 'id="scope-all" class="on" aria-current="page"' in every.text
        assert "scope=all" in re.search(r'hx-get="([^"]+)"', every.text).group(1)  # type: ignore[union-attr]
        # Teams picked in the form win over the key's teams.
        picked = client.get("/console/queue", params={"team": "tech_support", "scope": "all"})
        assert {t for _, t in queue_rows(picked.text)} <= {"tech_support"}
        assert 'id="scope-picked"' in picked.text
        # The form sends scope=all: no team ticked means every team, not the key's.
        cleared = client.get("/console/queue", params={"scope": "all", "channel": ""})
        assert len(queue_rows(cleared.text)) == len(everything_ids)

    # A key without teams sees every team and no team switch.
    with httpx.Client(
        base_url=console.url, timeout=60, cookies={COOKIE: console.sign_in("agent")}
    ) as client:
        plain = client.get("/console/queue")
        assert [i for i, _ in queue_rows(plain.text)] == everything_ids
        assert 'id="queue-scope"' not in plain.text


def test_cookie_is_secure_behind_a_tls_terminating_proxy(console: Console) -> None:
    """uvicorn runs with the proxy headers of THREADLINE_FORWARDED_ALLOW_IPS trusted (loopback
    by default): a proxy on 127.0.0.1 that says https gets a `Secure` cookie."""
    form = {"api_key": console.keys["agent"]}
    proxied = {"Host": "support.example.com"}
    with httpx.Client(base_url=console.url, timeout=60) as client:
        plain = client.post("/console/login", data=form, headers=proxied)
        assert plain.status_code == 303
        assert "secure" not in plain.headers["set-cookie"].lower()  # http to a public name
        tls = client.post(
            "/console/login", data=form, headers={**proxied, "X-Forwarded-Proto": "https"}
        )
        assert tls.status_code == 303
        cookie = tls.headers["set-cookie"].lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_proxy_headers_only_from_the_trusted_addresses(console: Console) -> None:
    """The same uvicorn config, trusting one proxy address: another client's X-Forwarded-Proto
    is ignored (it cannot make the app believe the request came over TLS)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.cli import server_config

    settings = console.container.settings.model_copy(update={"forwarded_allow_ips": "192.0.2.10"})
    config = server_config(create_app(console.container, start_workers=False), settings)
    config.load()  # wraps the app in uvicorn's ProxyHeadersMiddleware, as `threadline api` does

    def login(client_ip: str) -> str:
        client = TestClient(
            config.loaded_app,
            base_url="http://support.example.com",
            client=(client_ip, 40000),
            follow_redirects=False,
        )
        response = client.post(
            "/console/login",
            data={"api_key": console.keys["agent"]},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert response.status_code == 303, response.text
        return str(response.headers["set-cookie"]).lower()

    assert "; secure" in login("192.0.2.10")
    assert "secure" not in login("203.0.113.7")
