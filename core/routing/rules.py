"""The rules engine: pure, deterministic, no I/O.

`evaluate(condition, facts)` answers one condition; `decide(config, facts, team)` runs the
config's rules in order over the facts and returns the team, priority, tags and the rules
that fired with one human sentence each.

Field semantics:
- a field is a dotted path into the facts (`customer.account.account_manager`); a list
  element can be addressed by its index (`cues.0`). A missing field, or one that is null,
  is *absent*: `exists: false` holds and every other operator is false (use
  `not: {field: {eq: x}}` for "absent or different").
- `eq`/`ne`/`in`/`not_in` compare exactly; booleans never equal numbers (`true != 1`).
- `contains`: a list fact has an element equal to the value; a string fact contains the
  string value (case-insensitive). `contains_any`: `contains` for at least one value.
- `gt`/`gte`/`lt`/`lte` compare numbers only; any other fact is false.
- `matches`: a case-insensitive regular-expression search on a string fact.

Decision semantics:
- The starting priority is the caller's or `config.default_priority`; a rule's priority
  replaces the current one only when it is higher, so a priority never goes down.
- A rule that sets `team` changes what later rules see in `team`, and
  `team_supports_language` is recomputed from the team's languages and `language`.
- `stop: true` ends the evaluation after that rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from core.routing.config import (
    FALLBACK_PLACEHOLDER,
    PRIORITIES,
    TRIAGE_PLACEHOLDER,
    Action,
    Condition,
    FieldTest,
    Priority,
    RoutingConfig,
)

__all__ = [
    "Decision",
    "Facts",
    "Priority",
    "decide",
    "describe",
    "evaluate",
    "priority_rank",
]


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


def _thaw(value: object) -> object:
    """A private copy of nested mappings and sequences, dotted keys expanded."""
    if isinstance(value, Mapping):
        return _expand(value)
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_thaw(v) for v in value), key=repr)
    return value


def _expand(data: Mapping[Any, Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        parts = str(key).split(".")
        target = out
        for part in parts[:-1]:
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                target[part] = nxt
            target = nxt
        leaf = parts[-1]
        thawed = _thaw(value)
        if isinstance(thawed, dict) and isinstance(target.get(leaf), dict):
            target[leaf] = {**target[leaf], **thawed}  # type: ignore[dict-item]
        else:
            target[leaf] = thawed
    return out


@dataclass(frozen=True)
class Facts:
    """Everything rules can look at, e.g. `{"intent": "lost_parcel", "language": "de",
    "customer": {"vip": True, "account": {"account_manager": "Sofia"}}, ...}`."""

    values: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object] | None = None, **more: object) -> Facts:
        """A private, read-only copy; dotted keys (`"customer.vip": True`) become nested."""
        merged = _expand({**(data or {}), **more})
        return cls(MappingProxyType(merged))

    def lookup(self, path: str) -> object:
        """The value at a dotted path, or `ABSENT` (a null value counts as absent)."""
        if path in self.values:  # a flat key that itself contains dots
            value = self.values[path]
            return ABSENT if value is None else value
        current: object = self.values
        for part in path.split("."):
            if isinstance(current, Mapping):
                if part not in current:
                    return ABSENT
                current = current[part]
            elif isinstance(current, list | tuple) and part.lstrip("-").isdigit():
                index = int(part)
                if not -len(current) <= index < len(current):
                    return ABSENT
                current = current[index]
            else:
                return ABSENT
            if current is None:
                return ABSENT
        return current

    def get(self, path: str, default: object = None) -> object:
        value = self.lookup(path)
        return default if value is ABSENT else value

    def has(self, path: str) -> bool:
        return self.lookup(path) is not ABSENT

    def updated(self, changes: Mapping[str, object]) -> Facts:
        """A copy with top-level keys replaced."""
        return Facts(MappingProxyType({**self.values, **changes}))


@dataclass(frozen=True)
class Decision:
    team: str
    priority: Priority
    fired: list[str]
    reasons: list[str]
    tags: list[str]


# --- evaluation -------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # an exotic fact type with a failing __eq__
        return False


def _contains(fact: object, value: object) -> bool:
    if _is_list(fact):
        return any(_same(item, value) for item in fact)  # type: ignore[attr-defined]
    if isinstance(fact, str) and isinstance(value, str):
        return value.casefold() in fact.casefold()
    return False


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _test(test: FieldTest, facts: Facts) -> bool:
    fact = facts.lookup(test.path)
    op, value = test.op, test.value
    if op == "exists":
        return (fact is not ABSENT) is bool(value)
    if fact is ABSENT:
        return False
    if op == "eq":
        return _same(fact, value)
    if op == "ne":
        return not _same(fact, value)
    if op == "in":
        return not _is_list(fact) and any(_same(fact, v) for v in value)
    if op == "not_in":
        return not _is_list(fact) and not any(_same(fact, v) for v in value)
    if op == "contains":
        return _contains(fact, value)
    if op == "contains_any":
        return any(_contains(fact, v) for v in value)
    if op in ("gt", "gte", "lt", "lte"):
        if not (_is_number(fact) and _is_number(value)):
            return False
        a, b = float(fact), float(value)  # type: ignore[arg-type]
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    if op == "matches":
        return isinstance(fact, str) and _regex(str(value)).search(fact) is not None
    raise ValueError(f"unknown operator {op!r}")  # unreachable: validated on load


def evaluate(condition: Condition | Mapping[str, Any], facts: Facts) -> bool:
    """Whether the condition holds for the facts. Never raises on missing or odd facts."""
    if not isinstance(condition, Condition):
        condition = Condition.model_validate(condition)
    if not all(_test(t, facts) for t in condition.tests):
        return False
    if condition.all_ is not None and not all(evaluate(c, facts) for c in condition.all_):
        return False
    if condition.any_ is not None and not any(evaluate(c, facts) for c in condition.any_):
        return False
    return condition.not_ is None or not evaluate(condition.not_, facts)


# --- descriptions -----------------------------------------------------------------------------


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_list(value):
        return "[" + ", ".join(_show(v) for v in value) + "]"  # type: ignore[attr-defined]
    return str(value)


_OP_TEXT = {
    "eq": "is",
    "ne": "is not",
    "in": "is in",
    "not_in": "is not in",
    "contains": "contains",
    "contains_any": "contains any of",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
}


def _describe_test(test: FieldTest) -> str:
    if test.op == "exists":
        return f"{test.path} is {'set' if test.value else 'not set'}"
    if test.op == "matches":
        return f"{test.path} matches /{test.value}/"
    return f"{test.path} {_OP_TEXT[test.op]} {_show(test.value)}"


def describe(condition: Condition) -> str:
    """The condition as a short sentence: `intent is in [a, b] and customer.vip is true`."""
    return _describe(condition)[0]


def _describe(condition: Condition) -> tuple[str, str]:
    """(text, kind) with kind "atom", "and" or "or", to parenthesize where it matters."""
    parts: list[tuple[str, str]] = [(_describe_test(t), "atom") for t in condition.tests]
    if condition.all_ is not None:
        parts += [_describe(c) for c in condition.all_]
        if not condition.all_:
            parts.append(("always", "atom"))
    if condition.any_ is not None:
        items = [_describe(c) for c in condition.any_]
        if not items:
            parts.append(("never", "atom"))
        elif len(items) == 1:
            parts.append(items[0])
        else:
            text = " or ".join(f"({t})" if k == "and" else t for t, k in items)
            parts.append((text, "or"))
    if condition.not_ is not None:
        text, kind = _describe(condition.not_)
        parts.append((f"not ({text})" if kind != "atom" else f"not {text}", "atom"))
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({t})" if k == "or" else t for t, k in parts), "and"


# --- decisions --------------------------------------------------------------------------------


def priority_rank(priority: Priority) -> int:
    return PRIORITIES.index(priority)


def _placeholder_name(team: str) -> str | None:
    return {FALLBACK_PLACEHOLDER: "fallback team", TRIAGE_PLACEHOLDER: "triage team"}.get(team)


def decide(
    config: RoutingConfig, facts: Facts, team: str, priority: Priority | None = None
) -> Decision:
    """Run the rules in order, starting from `team` (the classifier's team, or the triage
    team after an abstention) and `priority` (default: `config.default_priority`).

    `team_supports_language` is taken from the facts when they carry it for this team,
    computed otherwise. A team that the config does not know is accepted as is (it restricts
    no language); rules may still move the message.
    """
    team = config.resolve_team(team)
    current: Priority = priority if priority is not None else config.default_priority
    values = dict(facts.values)
    given = values.get("team_supports_language")
    same_team = values.get("team") in (None, team)
    language = facts.get("language")
    lang = language if isinstance(language, str) else None
    if not (isinstance(given, bool) and same_team):
        given = config.supports_language(team, lang)
    original_tags = values.get("tags")
    base_tags = list(original_tags) if _is_list(original_tags) else []  # type: ignore[call-overload]
    values.update(team=team, priority=current, team_supports_language=given, tags=base_tags)
    state = Facts(MappingProxyType(values))

    fired: list[str] = []
    reasons: list[str] = []
    tags: list[str] = []
    for rule in config.rules:
        if not evaluate(rule.when, state):
            continue
        fired.append(rule.name)
        effects, team, current = _apply(config, rule.then, team, current, tags)
        if rule.stop:
            effects.append("stop")
        reasons.append(f"{rule.name}: {describe(rule.when)} → {', '.join(effects)}")
        changes: dict[str, object] = {
            "team": team,
            "priority": current,
            "tags": base_tags + [t for t in tags if t not in base_tags],
        }
        if team != state.values["team"]:
            changes["team_supports_language"] = config.supports_language(team, lang)
        state = state.updated(changes)
        if rule.stop:
            break
    return Decision(team=team, priority=current, fired=fired, reasons=reasons, tags=tags)


def _apply(
    config: RoutingConfig, action: Action, team: str, current: Priority, tags: list[str]
) -> tuple[list[str], str, Priority]:
    effects: list[str] = []
    if action.team is not None:
        team = config.resolve_team(action.team)
        label = _placeholder_name(action.team)
        effects.append(f"team {team}" + (f" ({label})" if label else ""))
    if action.priority is not None:
        if priority_rank(action.priority) >= priority_rank(current):
            current = action.priority
            effects.append(f"priority {action.priority}")
        else:
            effects.append(f"priority {action.priority} (stays {current})")
    if action.add_tags:
        for tag in action.add_tags:
            if tag not in tags:
                tags.append(tag)
        effects.append("tags " + ", ".join(action.add_tags))
    if not effects:
        effects.append("no change")
    return effects, team, current
