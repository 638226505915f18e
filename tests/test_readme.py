"""The README stays true: every setting and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli import app
from core.config import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [
        name for name in Settings.model_fields if f"`THREADLINE_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_cli_command_is_documented() -> None:
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        names += [f"threadline {name} {sub}" for sub in subs] if subs else [f"threadline {name}"]
    assert [n for n in names if f"`{n}" not in README] == []


def test_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
