"""A real Threadline on a real port with the demo company loaded, and a real headless Chromium.

The server is uvicorn in a thread over a fresh SQLite file, a local Chroma folder, the real
embedding model and the in-process workers. By default the demo loads the whole knowledge
base, every account and customer, and the messages of six customers (38 of the 278, among
them a six-channel story, an account's customer and the HTML/script payload) so that the
browser tests stay under a minute and a half on two cores; THREADLINE_CONSOLE_DEMO=full loads
all 278.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make test`), driven by the Python
`playwright` package's own driver: no browser download. Without it the browser tests skip,
or fail when THREADLINE_REQUIRE_SERVICES=1 (as in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from adapters.container import Container
from api.app import create_app
from api.cli import server_config
from core.auth.service import create_key
from core.config import Settings
from core.migrate import upgrade
from tests.console.server import TEAM_AGENT_TEAMS, Console

CHROMIUM = os.environ.get("THREADLINE_CHROMIUM", "/usr/bin/chromium")
# c040 sends the HTML/script payload; c018 belongs to an account (Cascade Trail Guides LLC).
DEMO_CUSTOMERS = {"c001", "c012", "c018", "c037", "c040", "c058"}
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_dir(target: Path) -> Path:
    """The demo data, with the messages of DEMO_CUSTOMERS only (unless asked for all)."""
    source = ROOT / "demo" / "data"
    shutil.copytree(source, target)
    if os.environ.get("THREADLINE_CONSOLE_DEMO") != "full":
        messages = json.loads((source / "messages.json").read_text(encoding="utf-8"))
        kept = [m for m in messages if m["customer"] in DEMO_CUSTOMERS]
        (target / "messages.json").write_text(json.dumps(kept), encoding="utf-8")
    return target


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Threadline with the demo loaded, served by uvicorn on a free port."""
    import demo.loader
    from demo.loader import load_demo

    tmp = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{tmp / 'threadline.db'}"
    upgrade(url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp / "var", database_url=url, sweep_interval_seconds=0.5
    )
    container = Container(settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo.loader, "DATA_DIR", _demo_dir(tmp / "demo-data"))
        summary = load_demo(container, progress=False)
    assert summary["statuses"] == {"processed": summary["messages_new"]}, summary
    keys: dict[str, str] = {}
    with container.session() as session:
        for role in ("agent", "knowledge_manager", "integration"):
            _, keys[role] = create_key(session, role, f"{role} Ada", container.clock.now())
        # An agent in two teams: the console's queue shows these teams by default.
        _, keys["team_agent"] = create_key(
            session,
            "agent",
            "agent Bo",
            container.clock.now(),
            teams=TEAM_AGENT_TEAMS,
            known_teams=container.routing_config.team_names,
        )
        session.commit()

    # The same uvicorn config as `threadline run/api` (proxy headers from 127.0.0.1 trusted).
    config = server_config(
        create_app(container), settings, port=_free_port(), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Console(f"http://127.0.0.1:{config.port}", keys, container)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        container.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (skip, or fail in CI, when missing)."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium; `make test` does)"
        if os.environ.get("THREADLINE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh browser context (no cookies) with a page; script dialogs fail the test."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=console.url)
    context.set_default_timeout(15000)
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert not dialogs, f"a script ran in the page and opened a dialog: {dialogs}"
    assert not errors, f"JavaScript errors in the page: {errors}"
