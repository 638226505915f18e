"""Loads versioned prompt files.

A prompt lives in `prompts/<capability>/<name>.v<N>.md`; its id is `<capability>/<name>` and
N its version (an int). A new wording is a new file (v2 beside v1), never an edit of a file
that produced stored suggestions, so every suggestion's `prompt_id` + `prompt_version` names
the exact text it came from.

File format: YAML front matter, then two sections started by the lines `# System` and
`# User`:

    ---
    description: what the prompt is for
    variables: [company, message]        # every $name the sections use (checked)
    channel_styles: {email: "...", sms: "..."}   # optional free-form settings
    ---
    # System
    Rules for the model ... ($company)
    # User
    <customer_message>$message</customer_message>

Both sections are `string.Template` texts: `$name` / `${name}` are filled by `render`, `$$` is
a literal dollar sign. Values are inserted as is, never re-parsed, so customer text that
contains `$x` stays untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import frontmatter

PROMPTS_DIR = Path(__file__).resolve().parent
_FILE = re.compile(r"^(?P<name>[a-z0-9_\-]+)\.v(?P<version>[0-9]+)\.md$")
_SECTION = re.compile(r"^# (System|User)\s*$", re.MULTILINE)


class PromptNotFound(LookupError):
    """No file for this prompt id (or not this version)."""


@dataclass(frozen=True)
class Prompt:
    """One version of one prompt: a system text and a user template."""

    id: str
    version: int
    system_template: str
    user_template: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) with every `$name` filled; a missing value raises KeyError."""
        return (
            Template(self.system_template).substitute(values),
            Template(self.user_template).substitute(values),
        )

    def variables(self) -> set[str]:
        """Every placeholder name the two sections use."""
        names: set[str] = set()
        for text in (self.system_template, self.user_template):
            for match in Template.pattern.finditer(text):
                name = match.group("named") or match.group("braced")
                if name:
                    names.add(name)
        return names


def versions(prompt_id: str, root: Path = PROMPTS_DIR) -> list[int]:
    """The versions on disk of `prompt_id`, ascending."""
    capability, _, name = prompt_id.rpartition("/")
    folder = root / capability
    found = []
    for path in folder.glob(f"{name}.v*.md") if folder.is_dir() else []:
        match = _FILE.match(path.name)
        if match and match["name"] == name:
            found.append(int(match["version"]))
    return sorted(found)


def load_prompt(prompt_id: str, version: int | None = None, root: Path = PROMPTS_DIR) -> Prompt:
    """The pinned `version` of `prompt_id`, or its latest version."""
    available = versions(prompt_id, root)
    if not available:
        raise PromptNotFound(f"no prompt file for {prompt_id!r} under {root}")
    chosen = available[-1] if version is None else version
    if chosen not in available:
        raise PromptNotFound(f"{prompt_id!r} has versions {available}, not {chosen}")
    capability, _, name = prompt_id.rpartition("/")
    path = root / capability / f"{name}.v{chosen}.md"
    return parse_prompt(path.read_text(encoding="utf-8"), prompt_id, chosen, path)


def parse_prompt(text: str, prompt_id: str, version: int, path: Path | None = None) -> Prompt:
    """Parse the file format described in the module docstring."""
    post = frontmatter.loads(text)
    parts = _SECTION.split(post.content)
    # ["preamble", "System", "<system>", "User", "<user>"]
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"System", "User"} or len(parts) != 5:
        raise ValueError(f"{prompt_id} v{version}: needs exactly one '# System' and one '# User'")
    prompt = Prompt(
        id=prompt_id,
        version=version,
        system_template=sections["System"],
        user_template=sections["User"],
        meta=dict(post.metadata),
        path=path,
    )
    declared = set(prompt.meta.get("variables") or [])
    if declared and declared != prompt.variables():
        raise ValueError(
            f"{prompt_id} v{version}: variables {sorted(prompt.variables())} "
            f"differ from the declared {sorted(declared)}"
        )
    return prompt
