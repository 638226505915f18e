"""The running console server as the tests see it (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from adapters.container import Container

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
