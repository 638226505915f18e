"""The console's sign-in, session cookie, CSRF defence and error pages, over real HTTP."""

from __future__ import annotations

import httpx

from api.console.session import COOKIE, csrf_token
from tests.console.server import Console


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
        # `Secure` cookies are sent back over plain HTTP to loopback by browsers, not by httpx.
        client.cookies.set(COOKIE, console.keys["agent"], domain="127.0.0.1", path="/console")
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
    cookies = {COOKIE: "tl_revoked-or-made-up"}
    with httpx.Client(base_url=console.url, timeout=60, cookies=cookies) as client:
        assert client.get("/console/queue").status_code == 303


def test_posts_need_the_csrf_token_and_our_origin(console: Console) -> None:
    sid = first_pending(console)
    key = console.keys["agent"]
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
