"""The running console server as the tests see it (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from adapters.container import Container
from api.console.session import COOKIE

TEAM_AGENT_TEAMS = ("payments_billing", "account_security")
"""The teams of the `team_agent` key: its console queue shows these by default."""


@dataclass
class Console:
    """The running server: its URL, keys by role, and its container (for direct checks)."""

    url: str
    keys: dict[str, str]
    container: Container

    def api(self, role: str = "agent") -> httpx.Client:
        """A JSON API client with the key of `role`."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[role]}"}, timeout=60
        )

    def sign_in(self, role: str = "agent") -> str:
        """Sign in through the form with the key of `role`: the session token of the cookie.

        (httpx does not send a `Secure` cookie back over plain HTTP, as browsers do to
        loopback: the tests pass the token themselves.)
        """
        with httpx.Client(base_url=self.url, timeout=60) as client:
            response = client.post("/console/login", data={"api_key": self.keys[role]})
        assert response.status_code == 303, response.text
        token = response.cookies.get(COOKIE)
        assert token and token != self.keys[role], "the cookie holds a session token, not the key"
        return str(token)
