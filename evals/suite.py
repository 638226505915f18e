"""Answer-consistency suites: the YAML format, its validation and a stable hash.

A suite is a list of *clusters*: questions that must get the same answer whatever the
channel or the customer. Each cluster names what is right (articles, team, intent, key facts)
and its *variants*: the same question written on another channel, by another persona.

```yaml
name: demo-consistency
kb: ../../demo/kb            # optional, relative to the suite file
customers:
  new: {sender: {email: alex.new@example.com, name: Alex Doe}}
  returning: {sender: {...}, prior: [{channel: facebook, text: "...", hours_ago: 20}]}
clusters:
  - id: return-window
    expected_articles: [returns-window]
    expected_team: returns_refunds
    expected_intent: return_request
    expected_facts: ["30 days"]
    variants:
      - {id: email-new, channel: email, customer: new, text: "How long do I have..."}
```

Errors name the YAML path of the bad field (`clusters[2].variants[0].customer: ...`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.conversations.schemas import CHANNELS

SUITES_DIR = Path(__file__).parent / "suites"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class SuiteError(ValueError):
    """A suite that cannot be read or does not follow the format; `path` is the YAML path."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SenderSpec(_Strict):
    """Who the persona is; `email` is made unique per variant so variants never meet."""

    email: str = Field(min_length=3, max_length=200)
    name: str | None = Field(None, max_length=200)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        if value.count("@") != 1 or not value.split("@")[1] or not value.split("@")[0]:
            raise ValueError(f"not an e-mail address: {value!r}")
        return value


class PriorMessage(_Strict):
    """An earlier contact of the persona, posted (and processed) before the variant."""

    channel: str
    text: str = Field(min_length=1, max_length=5000)
    hours_ago: float = Field(gt=0, le=24 * 365)
    subject: str | None = Field(None, max_length=500)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return _check_channel(value)


class Persona(_Strict):
    """A kind of customer: new, returning (prior contacts), B2B (account), declined offers."""

    sender: SenderSpec
    prior: list[PriorMessage] = Field(default_factory=list, max_length=20)
    account: str | None = Field(None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    account_attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def declined_offers(self) -> list[str]:
        raw = self.attributes.get("declined_offers") or []
        return [str(x) for x in raw] if isinstance(raw, list) else [str(raw)]


class Variant(_Strict):
    """One way of asking the cluster's question."""

    id: str
    channel: str
    customer: str
    text: str = Field(min_length=1, max_length=5000)
    subject: str | None = Field(None, max_length=500)
    public: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_id(value)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return _check_channel(value)

    @model_validator(mode="after")
    def _public_only_on_social(self) -> Variant:
        if self.public and self.channel not in ("facebook", "instagram", "twitter"):
            raise ValueError("public: true only on facebook, instagram or twitter")
        return self


class Cluster(_Strict):
    """Questions that must get the same answer."""

    id: str
    description: str | None = None
    expected_articles: list[str] = Field(default_factory=list)
    expected_team: str | None = None
    expected_intent: str | None = None
    expected_facts: list[str] = Field(default_factory=list)
    variants: list[Variant] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_id(value)

    @model_validator(mode="after")
    def _unique_variants(self) -> Cluster:
        seen: set[str] = set()
        for variant in self.variants:
            if variant.id in seen:
                raise ValueError(f"variant id {variant.id!r} appears twice")
            seen.add(variant.id)
        return self


class RoutingSpec(_Strict):
    """Route with another teams file (`teams`, core.routing.config.load_teams_yaml format:
    zero-shot over its intents unless the trained model knows them) or a whole routing YAML
    (`config`) instead of the configured routing. Paths are relative to the suite file."""

    teams: str | None = None
    config: str | None = None

    @model_validator(mode="after")
    def _one(self) -> RoutingSpec:
        if bool(self.teams) == bool(self.config):
            raise ValueError("give exactly one of teams or config")
        return self


class Suite(_Strict):
    """A whole suite file."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    kb: str | None = None
    routing: RoutingSpec | None = None
    customers: dict[str, Persona] = Field(default_factory=dict)
    clusters: list[Cluster] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Suite:
        seen: set[str] = set()
        for ci, cluster in enumerate(self.clusters):
            if cluster.id in seen:
                raise SuiteError(f"cluster id {cluster.id!r} appears twice", f"clusters[{ci}].id")
            seen.add(cluster.id)
            for vi, variant in enumerate(cluster.variants):
                if variant.customer not in self.customers:
                    known = ", ".join(sorted(self.customers)) or "none"
                    raise SuiteError(
                        f"unknown customer {variant.customer!r} (defined: {known})",
                        f"clusters[{ci}].variants[{vi}].customer",
                    )
        return self

    @property
    def variant_count(self) -> int:
        return sum(len(c.variants) for c in self.clusters)

    def canonical(self) -> dict[str, Any]:
        """The suite as plain data, every default filled in (what the hash covers)."""
        return self.model_dump(mode="json")


class LoadedSuite(BaseModel):
    """A validated suite, where it came from, and its hash."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    suite: Suite
    source: str  # file path or "inline"
    base_dir: Path  # relative paths (kb) resolve against this folder
    hash: str

    def resolve(self, value: str | None) -> Path | None:
        """A path of the suite, relative to its folder."""
        if not value:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def kb_path(self) -> Path | None:
        """The suite's KB folder or file, resolved; None when the suite names none."""
        return self.resolve(self.suite.kb)


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("ids use letters, digits, '.', '_' and '-' (at most 80)")
    return value


def _check_channel(value: str) -> str:
    channel = value.strip().lower()
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {value!r} (one of {', '.join(CHANNELS)})")
    return channel


def yaml_path(loc: tuple[int | str, ...]) -> str:
    """`("clusters", 2, "variants", 0, "customer")` → `clusters[2].variants[0].customer`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def suite_hash(suite: Suite) -> str:
    """sha256 of the canonical suite: formatting and key order do not change it."""
    payload = json.dumps(suite.canonical(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def parse_suite(text: str, source: str = "inline", base_dir: Path | None = None) -> LoadedSuite:
    """Validate suite YAML text; raises `SuiteError` naming the YAML path of a bad field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{source}: not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise SuiteError(f"{source}: a suite is a YAML mapping with name, customers, clusters")
    try:
        suite = Suite.model_validate(data)
    except SuiteError:
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        ctx = first.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, SuiteError):
            raise SuiteError(inner.message, inner.path) from exc
        message = str(first["msg"]).removeprefix("Value error, ")
        path = yaml_path(tuple(first["loc"]))
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise SuiteError(message, path or source) from exc
    return LoadedSuite(
        suite=suite,
        source=source,
        base_dir=(base_dir or SUITES_DIR).resolve(),
        hash=suite_hash(suite),
    )


def load_suite(path: Path) -> LoadedSuite:
    """Read and validate a suite file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read the suite: {exc}") from exc
    return parse_suite(text, source=str(path), base_dir=path.resolve().parent)


def resolve_suite(name_or_yaml: str) -> LoadedSuite:
    """A suite given as the name of a file in `evals/suites` (with or without `.yaml`) or as
    inline YAML text (the API's `suite` field)."""
    text = name_or_yaml.strip()
    if "\n" not in text and re.fullmatch(r"[A-Za-z0-9._-]+", text):
        for candidate in (text, f"{text}.yaml", f"{text}.yml"):
            path = SUITES_DIR / candidate
            if path.is_file():
                return load_suite(path)
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.y*ml"))) or "none"
        raise SuiteError(f"no suite named {text!r} in evals/suites (known: {known})", "suite")
    return parse_suite(name_or_yaml, source="inline", base_dir=SUITES_DIR)
