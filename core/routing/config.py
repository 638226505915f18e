"""The routing YAML: teams (description, languages, skills, intents) and ordered rules.

`load_routing_config(path)` reads and validates one file (None: the bundled
`default_routing.yaml`); `load_teams_yaml(path)` reads the simpler `teams:` map of a
labelled data set. Every problem becomes one `InvalidInput` that names the file, the line
and the field path, e.g.::

    routing.yaml, line 41: rules[2] (b2b).then.team: unknown team 'sales' (teams: ...)

A condition is a mapping `{field: {operator: value}}` (several fields: all must hold) or a
combinator `all: [...]`, `any: [...]`, `not: {...}`; fields are dotted paths into the facts.
The engine that evaluates conditions is `core.routing.rules`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.errors import InvalidInput

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

Operator = Literal[
    "eq", "ne", "in", "not_in", "contains", "contains_any", "gt", "gte", "lt", "lte", "exists",
    "matches",
]  # fmt: skip
OPERATORS: tuple[Operator, ...] = get_args(Operator)
COMBINATORS = ("all", "any", "not")

FALLBACK_PLACEHOLDER = "{fallback_team}"
TRIAGE_PLACEHOLDER = "{triage_team}"
PLACEHOLDERS = (FALLBACK_PLACEHOLDER, TRIAGE_PLACEHOLDER)

DEFAULT_ROUTING_PATH = Path(__file__).with_name("default_routing.yaml")

_LIST_OPERATORS = ("in", "not_in", "contains_any")
_NUMBER_OPERATORS = ("gt", "gte", "lt", "lte")

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def _problem(loc: Loc, message: str) -> PydanticCustomError:
    """A validation error whose `loc` (relative to the value being validated) travels in ctx."""
    return PydanticCustomError("routing", "{message}", {"message": message, "sub_loc": loc})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- conditions -------------------------------------------------------------------------------


class FieldTest(BaseModel):
    """One `{path: {op: value}}` test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    op: Operator
    value: Any = None


def _check_operand(path: str, op: str, value: object) -> None:
    if op not in OPERATORS:
        raise _problem((path, op), f"unknown operator {op!r} (operators: {', '.join(OPERATORS)})")
    if op in _LIST_OPERATORS and not isinstance(value, list):
        raise _problem((path, op), f"{op} needs a list, got {_type_name(value)}")
    if op in _NUMBER_OPERATORS and not _is_number(value):
        raise _problem((path, op), f"{op} needs a number, got {_type_name(value)}")
    if op == "exists" and not isinstance(value, bool):
        raise _problem((path, op), f"exists needs true or false, got {_type_name(value)}")
    if op == "matches":
        if not isinstance(value, str):
            raise _problem((path, op), f"matches needs a regex string, got {_type_name(value)}")
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise _problem((path, op), f"invalid regular expression {value!r}: {exc}") from exc
    if op in ("eq", "ne", "contains") and isinstance(value, dict):
        raise _problem((path, op), f"{op} needs a plain value, got a mapping")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if _is_number(value):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


class Condition(BaseModel):
    """A parsed condition. Build it from its YAML shape with `Condition.model_validate(...)`.

    `all_`, `any_`, `not_` are the combinators; `tests` are the field tests of the mapping.
    Every part that is present must hold.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    all_: tuple[Condition, ...] | None = Field(default=None, alias="all")
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")
    tests: tuple[FieldTest, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, Condition):
            return data
        if not isinstance(data, Mapping):
            raise _problem(
                (),
                "a condition is a mapping {field: {operator: value}} or all/any/not, "
                f"got {_type_name(data)}",
            )
        if not data:
            raise _problem((), "empty condition (use `all: []` for a rule that always fires)")
        out: dict[str, Any] = {}
        tests: list[FieldTest] = []
        for key, spec in data.items():
            if not isinstance(key, str):
                raise _problem((str(key),), "field names must be strings")
            if key in ("all", "any"):
                if not isinstance(spec, list):
                    got = _type_name(spec)
                    raise _problem((key,), f"{key} needs a list of conditions, got {got}")
                out[key] = spec
            elif key == "not":
                out[key] = spec
            else:
                if not _PATH.match(key):
                    raise _problem((key,), f"invalid field path {key!r}")
                if not isinstance(spec, Mapping):
                    raise _problem(
                        (key,),
                        f"expected {{operator: value}} (e.g. {{eq: {spec!r}}}), "
                        f"got {_type_name(spec)}",
                    )
                if not spec:
                    raise _problem((key,), "no operator given")
                for op, value in spec.items():
                    _check_operand(key, str(op), value)
                    tests.append(FieldTest(path=key, op=op, value=value))
        out["tests"] = tests
        return out

    @model_serializer(mode="plain")
    def _dump(self) -> dict[str, Any]:
        """Back to the YAML shape, so that a dump validates to an equal condition."""
        out: dict[str, Any] = {}
        for test in self.tests:
            out.setdefault(test.path, {})[test.op] = test.value
        if self.all_ is not None:
            out["all"] = [c._dump() for c in self.all_]
        if self.any_ is not None:
            out["any"] = [c._dump() for c in self.any_]
        if self.not_ is not None:
            out["not"] = self.not_._dump()
        return out


# --- actions, rules, teams --------------------------------------------------------------------


class Action(BaseModel):
    """What a fired rule does: set the team, raise the priority, add tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str | None = None
    priority: Priority | None = None
    add_tags: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    when: Condition
    then: Action
    stop: bool = False


def _words(intent: str) -> str:
    return intent.replace("_", " ")


class TeamConfig(BaseModel):
    """One team. `languages` empty: any language. `intents`: name → description.

    `intents` may also be given as a list of names (or with empty descriptions): the
    description is then the name with underscores as spaces. `examples`: intent → a few
    messages as customers write them; without a trained model, each intent is matched by the
    centroid of its description and its examples.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    languages: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    intents: dict[str, str] = Field(default_factory=dict)
    examples: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, list):
            return [v.strip().lower() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("skills", mode="before")
    @classmethod
    def _skills(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("intents", mode="before")
    @classmethod
    def _intents(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, list):
            out: dict[str, str] = {}
            for n, name in enumerate(value):
                if not isinstance(name, str) or not name:
                    got = _type_name(name)
                    raise _problem((n,), f"an intent name must be a string, got {got}")
                if name in out:
                    raise _problem((n,), f"intent {name!r} is listed twice")
                out[name] = _words(name)
            return out
        if isinstance(value, Mapping):
            return {
                k: (_words(k) if v is None or (isinstance(v, str) and not v.strip()) else v)
                for k, v in value.items()
            }
        return value

    @field_validator("examples", mode="before")
    @classmethod
    def _examples(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            for intent, texts in value.items():
                if not isinstance(texts, list) or not all(
                    isinstance(t, str) and t.strip() for t in texts
                ):
                    raise _problem((intent,), "examples must be a list of non-empty strings")
        return value

    @model_validator(mode="after")
    def _examples_of_known_intents(self) -> TeamConfig:
        for intent in self.examples:
            if intent not in self.intents:
                known = ", ".join(self.intents) or "none"
                raise _problem(
                    ("examples", intent),
                    f"examples for unknown intent {intent!r} (this team's intents: {known})",
                )
        return self

    def supports(self, language: str | None) -> bool:
        """True when the team takes this language (`de-CH` counts as `de`) or any language."""
        if not self.languages or not language:
            return True
        code = language.strip().lower().replace("_", "-")
        return code in self.languages or code.split("-")[0] in self.languages


def intent_owners(teams: Mapping[str, TeamConfig]) -> dict[str, str]:
    """Each intent's team. Raises ValueError when an intent is listed by two teams."""
    owners: dict[str, str] = {}
    for team, cfg in teams.items():
        for intent in cfg.intents:
            if intent in owners:
                raise ValueError(
                    f"intent {intent!r} is listed by both {owners[intent]!r} and {team!r}"
                )
            owners[intent] = team
    return owners


def _duplicate_intent_problems(teams: Mapping[str, TeamConfig]) -> list[tuple[Loc, str]]:
    owners: dict[str, str] = {}
    problems: list[tuple[Loc, str]] = []
    for team, cfg in teams.items():
        for intent in cfg.intents:
            if intent in owners:
                problems.append(
                    (
                        ("teams", team, "intents", intent),
                        f"intent {intent!r} is already listed by team {owners[intent]!r} "
                        "(an intent belongs to one team)",
                    )
                )
            else:
                owners[intent] = team
    return problems


def _raise_problems(problems: list[tuple[Loc, str]]) -> None:
    if problems:
        raise PydanticCustomError(
            "routing", "{message}", {"message": problems[0][1], "problems": problems}
        )


class RoutingConfig(BaseModel):
    """A whole routing file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    triage_team: str
    fallback_team: str
    abstain_below: float = Field(default=0.45, ge=0.0, le=1.0)
    default_priority: Priority = "normal"
    teams: dict[str, TeamConfig] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> RoutingConfig:
        problems: list[tuple[Loc, str]] = []
        known = ", ".join(self.teams)
        for key in ("triage_team", "fallback_team"):
            name = getattr(self, key)
            if name not in self.teams:
                problems.append(((key,), f"unknown team {name!r} (teams: {known})"))
        problems += _duplicate_intent_problems(self.teams)
        seen: dict[str, int] = {}
        for n, rule in enumerate(self.rules):
            if rule.name in seen:
                first = seen[rule.name]
                problems.append(
                    (
                        ("rules", n, "name"),
                        f"rule name {rule.name!r} is already used by rules[{first}]",
                    )
                )
            else:
                seen[rule.name] = n
            team = rule.then.team
            if team is not None and team not in self.teams and team not in PLACEHOLDERS:
                problems.append(
                    (
                        ("rules", n, "then", "team"),
                        f"unknown team {team!r} (teams: {known}, "
                        f"{FALLBACK_PLACEHOLDER}, {TRIAGE_PLACEHOLDER})",
                    )
                )
        _raise_problems(problems)
        return self

    @property
    def team_names(self) -> list[str]:
        """Team names in file order."""
        return list(self.teams)

    def intent_team(self) -> dict[str, str]:
        """Each intent's owning team."""
        return intent_owners(self.teams)

    def intent_descriptions(self) -> dict[str, str]:
        """Each intent's description (for zero-shot matching), in file order."""
        return {i: d for cfg in self.teams.values() for i, d in cfg.intents.items()}

    def intent_examples(self) -> dict[str, list[str]]:
        """Each intent's example messages (intents without examples are left out)."""
        return {i: list(e) for cfg in self.teams.values() for i, e in cfg.examples.items() if e}

    def resolve_team(self, name: str) -> str:
        """`{fallback_team}` / `{triage_team}` → the configured team; other names unchanged."""
        if name == FALLBACK_PLACEHOLDER:
            return self.fallback_team
        if name == TRIAGE_PLACEHOLDER:
            return self.triage_team
        return name

    def supports_language(self, team: str, language: str | None) -> bool:
        """Whether `team` takes `language`. An unknown language or a team that is not
        configured (e.g. from a model trained with another teams file) restricts nothing."""
        cfg = self.teams.get(team)
        return True if cfg is None else cfg.supports(language)


class TeamsFile(BaseModel):
    """The `teams.yaml` of a labelled data set: `teams: {name: {description, intents: [...]}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    teams: dict[str, TeamConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_intents(self) -> TeamsFile:
        _raise_problems(_duplicate_intent_problems(self.teams))
        return self


# --- loading ----------------------------------------------------------------------------------


def load_routing_config(path: Path | None = None) -> RoutingConfig:
    """Read and validate a routing file; None: the bundled `default_routing.yaml`."""
    source = DEFAULT_ROUTING_PATH if path is None else Path(path)
    data, node = _read_yaml(source)
    return _validate(RoutingConfig, data, node, source)


def load_teams_yaml(path: Path) -> dict[str, TeamConfig]:
    """Read a data set's teams file (intents as lists; names kept verbatim, `?` included)."""
    source = Path(path)
    data, node = _read_yaml(source)
    return dict(_validate(TeamsFile, data, node, source).teams)


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found", field="path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}", field="path") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InvalidInput(f"{path}: the file is empty", field="path")
        _reject_duplicate_keys(path, node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InvalidInput(f"{path}{where}: invalid YAML: {what}", field="path") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: invalid YAML: {exc}", field="path") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{path}, line 1: the top level must be a mapping, got {_type_name(data)}",
            field="path",
        )
    return data, node


def _reject_duplicate_keys(path: Path, node: yaml.Node, loc: Loc) -> None:
    """PyYAML keeps the last of two equal keys silently; a routing file must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if isinstance(key, yaml.ScalarNode) and name in seen and name != "<<":
                raise InvalidInput(
                    f"{path}, line {key.start_mark.line + 1}: "
                    f"{_render_loc((*loc, name), None) or name}: duplicate key {name!r}",
                    field=_dotted((*loc, name)),
                )
            seen.add(name)
            _reject_duplicate_keys(path, value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            _reject_duplicate_keys(path, item, (*loc, n))


def _validate(model: type[M], data: Any, node: yaml.Node | None, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        entries = list(_entries(exc))
        lines = []
        for loc, message in entries:
            line = _line_of(node, loc)
            where = f", line {line}" if line else ""
            field = _render_loc(loc, data)
            lines.append(f"{path}{where}: {field + ': ' if field else ''}{message}")
        first = entries[0][0] if entries else ()
        raise InvalidInput("; ".join(lines), field=_dotted(first) or None) from None


def _entries(exc: ValidationError) -> Iterator[tuple[Loc, str]]:
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if "problems" in ctx:
            for sub, message in ctx["problems"]:
                yield (*loc, *sub), message
        elif "sub_loc" in ctx:
            yield (*loc, *ctx["sub_loc"]), str(ctx["message"])
        else:
            message = err["msg"]
            if err["type"] == "extra_forbidden" and loc:
                message = f"unknown field {loc[-1]!r}"
            elif err["type"] == "missing":
                message = "required field is missing"
            elif isinstance(err.get("input"), str | int | float | bool):
                message = f"{message}, got {err['input']!r}"
            yield loc, message


def _dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in loc)


def _render_loc(loc: Sequence[str | int], data: Any) -> str:
    """`rules[2] (b2b).then.team`: indexes in brackets, a rule's name after its index."""
    out = ""
    current = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            current = current[part] if isinstance(current, list) and part < len(current) else None
            if isinstance(current, dict) and isinstance(current.get("name"), str):
                out += f" ({current['name']})"
        else:
            out += f".{part}" if out else part
            current = current.get(part) if isinstance(current, dict) else None
    return out


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest YAML node the path reaches (None without a node)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    # point at the key: that is where the reader looks for the field
                    line = key.start_mark.line + 1
                    nxt = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                nxt = node.value[part]
                line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line
