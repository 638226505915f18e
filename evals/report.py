"""The eval report: one self-contained HTML page (inline PNG charts, no CDN, no scripts).

Every customer text and draft is HTML-escaped. The charts come from
core.classification.report (confusion matrix, reliability diagram), drawn with matplotlib.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from evals.metrics import HIGHER_IS_BETTER, METRICS

esc = html.escape

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1500px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; }
td.l, th.l { text-align: left; }
.pass { background: #e2f5e2; } .fail { background: #fde2e2; } .na { color: #888; }
.better { color: #1a7f37; } .worse { color: #c62828; }
.meta { color: #555; font-size: 0.9em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 0.8em; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em; font-size: 0.85em; }
.card h4 { margin: 0 0 0.3em 0; font-size: 1em; }
.card .q { color: #555; font-style: italic; }
.card .answer { white-space: pre-wrap; background: #fafafa; padding: 0.4em; }
.card pre { white-space: pre-wrap; font-size: 0.95em; }
mark { background: #ffe08a; }
.bad { color: #c62828; font-weight: 600; } .ok { color: #1a7f37; }
details { margin: 0.4em 0; } summary { cursor: pointer; }
.row { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
img { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 0.2em; }
table.clusters { font-size: 0.78em; }
table.clusters td, table.clusters th { padding: 0.15em 0.35em; }
table.clusters td.l { white-space: nowrap; }
"""


def fmt(value: Any, digits: int = 3) -> str:
    """A score for a table: n/a for None, 3 decimals for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cell(value: Any, good: float = 0.999, digits: int = 3) -> str:
    if value is None:
        return '<td class="na">n/a</td>'
    css = "pass" if isinstance(value, (int, float)) and value >= good else "fail"
    return f'<td class="{css}">{esc(fmt(value, digits))}</td>'


_WORD = re.compile(r"\S+|\s+")


def diff_html(reference: str, text: str) -> str:
    """`text` escaped, with the words that differ from `reference` marked (word-level)."""
    a = [t for t in _WORD.findall(reference) if not t.isspace()]
    b_tokens = _WORD.findall(text)
    b_words = [t for t in b_tokens if not t.isspace()]
    changed: set[int] = set()
    matcher = difflib.SequenceMatcher(a=a, b=b_words, autojunk=False)
    for op, _, _, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            changed.update(range(j1, j2))
    out: list[str] = []
    index = 0
    for token in b_tokens:
        if token.isspace():
            out.append(esc(token))
            continue
        out.append(f"<mark>{esc(token)}</mark>" if index in changed else esc(token))
        index += 1
    return "".join(out)


def _eval_result(data: Mapping[str, Any] | None) -> Any:
    """An EvalResult back from its JSON (for the charts)."""
    if not data:
        return None
    from core.classification.metrics import EvalResult, LabelScores, ReliabilityBin

    values = dict(data)
    values["per_label"] = {k: LabelScores(**v) for k, v in data["per_label"].items()}
    values["reliability"] = [ReliabilityBin(**b) for b in data["reliability"]]
    return EvalResult(**values)


def _charts(result: Mapping[str, Any]) -> list[str]:
    from core.classification.report import _img, confusion_figure, reliability_figure

    parts: list[str] = []
    routing = result.get("routing") or {}
    intent = _eval_result(routing.get("intent"))
    team = _eval_result(routing.get("team"))
    if intent is None and team is None:
        return ["<p class='na'>No cluster names an expected team or intent.</p>"]
    parts.append('<div class="row">')
    for name, res in (("intent", intent), ("team", team)):
        if res is None:
            continue
        parts += [
            "<div>",
            f"<h3>{esc(name.title())} confusion matrix (accuracy {res.accuracy:.3f})</h3>",
            _img(confusion_figure(res), f"{name} confusion matrix", dpi=110),
            "</div>",
        ]
    parts.append("</div>")
    if intent is not None:
        parts += [
            "<h3>Reliability of the routing confidence (intent)</h3>",
            '<div class="row"><div>',
            _img(reliability_figure(intent), "reliability diagram"),
            "</div><div><table><tr><th>confidence</th><th>variants</th>"
            "<th>mean confidence</th><th>accuracy</th></tr>",
            *(
                f"<tr><td>{b.lower:.2f}–{b.upper:.2f}</td><td>{b.count}</td>"
                f"<td>{fmt(b.mean_confidence)}</td><td>{fmt(b.accuracy)}</td></tr>"
                for b in intent.reliability
                if b.count
            ),
            "</table></div></div>",
        ]
    return parts


def _bar(name: str, bar: Mapping[str, Any] | None) -> str:
    """A bar as "≥ 0.900", or "≤ 0.100" for a metric whose bar is a maximum."""
    if not bar:
        return ""
    return f"{'≥' if HIGHER_IS_BETTER.get(name, True) else '≤'} {fmt(bar['bar'])}"


def _summary(result: Mapping[str, Any], comparison: Mapping[str, Any] | None) -> list[str]:
    summary = result["summary"]
    bars = result.get("bars") or {}
    head = "<tr><th class='l'>metric</th><th class='l'>meaning</th><th>value</th><th>bar</th>"
    head += "<th>result</th>"
    if comparison:
        head += "<th>previous</th><th>change</th>"
    rows = ["<table class='summary'>", head + "</tr>"]
    for name, meaning in METRICS.items():
        value = summary.get(name)
        bar = bars.get(name)
        css, verdict = "", ""
        if bar is not None:
            passed = bar.get("passed")
            css = "pass" if passed else ("na" if passed is None else "fail")
            verdict = "pass" if passed else ("n/a" if passed is None else "FAIL")
        row = (
            f"<tr class='{css}'><td class='l'><code>{esc(name)}</code></td>"
            f"<td class='l'>{esc(meaning)}</td><td>{esc(fmt(value))}</td>"
            f"<td>{esc(_bar(name, bar))}</td><td>{esc(verdict)}</td>"
        )
        if comparison:
            c = comparison.get(name) or {}
            trend = c.get("trend", "n/a")
            delta = c.get("delta")
            sign = "" if delta is None else f"{delta:+.3f}"
            row += (
                f"<td>{esc(fmt(c.get('previous')))}</td>"
                f"<td class='{esc(trend)}'>{esc(sign)} {esc(trend)}</td>"
            )
        rows.append(row + "</tr>")
    rows.append("</table>")
    return rows


_CLUSTER_COLUMNS = (
    ("team_accuracy", "team"),
    ("intent_accuracy", "intent"),
    ("recall_at_k", "recall@k"),
    ("mrr", "MRR"),
    ("citation_agreement", "citation agr."),
    ("fact_agreement", "fact agr."),
    ("fact_recall", "fact recall"),
    ("semantic_agreement", "semantic mean"),
    ("semantic_agreement_min", "semantic min"),
    ("faithfulness", "faithful"),
    ("personalization", "personal."),
    ("public_privacy", "privacy"),
    ("declined_offers", "declined"),
    ("stability", "stable"),
)
_REPEAT_COLUMNS = (
    ("stability_fact_agreement", "stable facts"),
    ("stability_semantic_agreement", "stable meaning"),
)
_SEMANTIC_GOOD = 0.8


def _cluster_table(result: Mapping[str, Any], suite_key: str) -> list[str]:
    columns: tuple[tuple[str, str], ...] = _CLUSTER_COLUMNS
    if any(c["scores"].get("stability_fact_agreement") is not None for c in result["clusters"]):
        columns = (*columns, *_REPEAT_COLUMNS)  # only with --repeat
    rows = [
        "<table class='clusters'><tr><th class='l'>cluster</th><th>variants</th>",
        *(f"<th>{esc(label)}</th>" for _, label in columns),
        "<th>consistent</th></tr>",
    ]
    for cluster in result["clusters"]:
        s = cluster["scores"]
        anchor = f"{suite_key}-{cluster['id']}"
        cells = []
        for key, _ in columns:
            good = _SEMANTIC_GOOD if "semantic" in key else 0.999
            cells.append(_cell(s.get(key), good))
        consistent = s.get("consistent")
        rows.append(
            f"<tr><td class='l'><a href='#{esc(anchor)}'>{esc(cluster['id'])}</a></td>"
            f"<td>{s['n']}</td>{''.join(cells)}{_cell(consistent, 1)}</tr>"
        )
    rows.append("</table>")
    return rows


def _reference_index(variants: Sequence[Mapping[str, Any]], modal: str | None) -> int:
    for i, v in enumerate(variants):
        if modal and modal in v.get("cited_documents", []):
            return i
    return 0


def _variant_card(
    v: Mapping[str, Any],
    cluster: Mapping[str, Any],
    reference: Mapping[str, Any],
    is_reference: bool,
) -> list[str]:
    exp = cluster["expected"]
    common = set(cluster["scores"].get("facts_common") or [])

    def check(ok: bool | None, label: str) -> str:
        if ok is None:
            return ""
        css = "ok" if ok else "bad"
        return f"<span class='{css}'>{esc(label)} {'✓' if ok else '✗'}</span> "

    team_ok = v.get("team") == exp["expected_team"] if exp.get("expected_team") else None
    intent_ok = v.get("intent") == exp["expected_intent"] if exp.get("expected_intent") else None
    facts = " ".join(
        f"<code>{esc(f)}</code>" if f in common else f"<mark>{esc(f)}</mark>"
        for f in v.get("facts", [])
    )
    answer = (
        esc(v.get("answer", ""))
        if is_reference
        else diff_html(reference.get("answer", ""), v.get("answer", ""))
    )
    where = f"{v['channel']}{' (public)' if v.get('public') else ''} · {v['customer']}"
    parts = [
        "<div class='card'>",
        f"<h4>{esc(v['variant_id'])} <span class='meta'>{esc(where)}</span>"
        + (" <span class='meta'>(reference)</span>" if is_reference else "")
        + "</h4>",
        f"<div class='q'>“{esc(v.get('text', ''))}”</div>",
        "<p>"
        + check(team_ok, f"team {v.get('team')}")
        + check(intent_ok, f"intent {v.get('intent')} ({v.get('intent_confidence', 0):.2f})")
        + "</p>",
        f"<p>cites: {esc(', '.join(v.get('cited_documents') or []) or 'nothing')}</p>",
        f"<p>facts: {facts or '<span class=na>none</span>'}</p>",
    ]
    problems = []
    if v.get("unsupported"):
        problems.append("unsupported facts: " + ", ".join(v["unsupported"]))
    if v.get("personalized") is False:
        problems.append("prior contact on " + ", ".join(v.get("prior_channels", [])) + " not named")
    if v.get("public_pii"):
        problems.append("personal data in a public reply: " + ", ".join(v["public_pii"]))
    if v.get("reoffered"):
        problems.append("re-offers declined: " + ", ".join(v["reoffered"]))
    if v.get("stable") is False:
        problems.append("drafts differ between repeats")
    if v.get("repeat_facts_agree") is False:
        problems.append("the repeats state different facts")
    if v.get("needs_human"):
        problems.append("needs_human")
    if v.get("fallback_reason"):
        problems.append(str(v["fallback_reason"]))
    if v.get("flags"):
        problems.append("flags: " + ", ".join(v["flags"]))
    if problems:
        parts.append("<ul>" + "".join(f"<li class='bad'>{esc(p)}</li>" for p in problems) + "</ul>")
    parts += [
        f"<div class='answer'>{answer}</div>",
        f"<details><summary>full draft</summary><pre>{esc(v.get('draft', ''))}</pre></details>",
        "</div>",
    ]
    return parts


def _translations(scores: Mapping[str, Any]) -> str:
    """The other articles of a modal answer of expected translations, as a suffix."""
    others = [a for a in scores.get("modal_answer") or [] if a != scores.get("modal_article")]
    return f" (or its translation {esc(', '.join(others))})" if others else ""


def _clusters(result: Mapping[str, Any], suite_key: str) -> list[str]:
    parts: list[str] = []
    for cluster in result["clusters"]:
        s = cluster["scores"]
        exp = cluster["expected"]
        variants = cluster["variants"]
        ref = _reference_index(variants, s.get("modal_article"))
        failing = s.get("consistent") is False or any(
            (s.get(k) is not None and s.get(k) < 1.0)
            for k in ("team_accuracy", "intent_accuracy", "faithfulness")
        )
        anchor = f"{suite_key}-{cluster['id']}"
        verdict = "<span class='bad'>check</span>" if failing else "<span class='ok'>ok</span>"
        parts += [
            f"<details id='{esc(anchor)}'><summary><strong>{esc(cluster['id'])}</strong> "
            f"— {len(variants)} variants — {verdict}</summary>",
            "<p class='meta'>expected: articles "
            f"{esc(', '.join(exp['expected_articles']) or '–')}; team "
            f"{esc(exp['expected_team'] or '–')}; intent {esc(exp['expected_intent'] or '–')}; "
            f"facts {esc(', '.join(exp['expected_facts']) or '–')}. Modal article: "
            f"{esc(s.get('modal_article') or '–')}{_translations(s)}. Facts every draft states: "
            f"{esc(', '.join(s.get('facts_common') or []) or '–')}; stated by some only: "
            f"{esc(', '.join(s.get('facts_differing') or []) or '–')}.</p>",
            "<p class='meta'>Highlighted: words of each answer that differ from the reference "
            "variant's answer, and facts not every draft states.</p>",
            "<div class='grid'>",
        ]
        for i, v in enumerate(variants):
            parts += _variant_card(v, cluster, variants[ref], i == ref)
        parts += ["</div></details>"]
    return parts


def _per_intent(result: Mapping[str, Any]) -> list[str]:
    keys = (
        "intent_accuracy",
        "team_accuracy",
        "recall_at_k",
        "citation_agreement",
        "fact_agreement",
        "semantic_agreement",
        "faithfulness",
    )
    rows = [
        "<table><tr><th class='l'>expected intent</th><th>clusters</th><th>variants</th>",
        *(f"<th>{esc(k)}</th>" for k in keys),
        "</tr>",
    ]
    for intent, s in sorted(result.get("per_intent", {}).items()):
        rows.append(
            f"<tr><td class='l'>{esc(intent)}</td><td>{s['clusters']}</td><td>{s['variants']}</td>"
            + "".join(_cell(s.get(k), _SEMANTIC_GOOD if "semantic" in k else 0.999) for k in keys)
            + "</tr>"
        )
    rows.append("</table>")
    return rows


def _trend_cell(trend: str) -> str:
    return f"<td class='l {esc(trend)}'>{esc(trend)}</td>"


def _cluster_changes(changes: Mapping[str, Any] | None, suite_key: str) -> list[str]:
    """--compare: the clusters that got better or worse (evals.metrics.compare_clusters)."""
    if not changes:
        return []
    from evals.metrics import CLUSTER_COMPARED

    changed = changes.get("changed") or []
    parts = [
        "<h3>Clusters since the previous run</h3>",
        f"<p class='meta'>{len(changes.get('better') or [])} better, "
        f"{len(changes.get('worse') or [])} worse, {len(changed)} changed in all, "
        f"{changes.get('unchanged', 0)} unchanged; "
        f"new: {esc(', '.join(changes.get('added') or []) or 'none')}; "
        f"removed: {esc(', '.join(changes.get('removed') or []) or 'none')}.</p>",
    ]
    if not changed:
        return parts
    parts.append(
        "<table class='changes'><tr><th class='l'>cluster</th><th class='l'>trend</th>"
        "<th class='l'>what changed (previous → now)</th></tr>"
    )
    for entry in changed:
        items = []
        for key, c in (entry.get("changes") or {}).items():
            sign = "" if c.get("delta") is None else f" ({c['delta']:+.3f})"
            items.append(
                f"<span class='{esc(c.get('trend', ''))}'>{esc(CLUSTER_COMPARED.get(key, key))} "
                f"{esc(fmt(c.get('previous')))} → {esc(fmt(c.get('current')))}{esc(sign)}</span>"
            )
        if "modal_article" in entry:
            m = entry["modal_article"]
            items.append(
                f"modal article {esc(str(m.get('previous') or '–'))} → "
                f"{esc(str(m.get('current') or '–'))}"
            )
        if "facts_common" in entry:
            f = entry["facts_common"]
            items.append(
                f"facts every draft states {esc(', '.join(f.get('previous') or []) or '–')} → "
                f"{esc(', '.join(f.get('current') or []) or '–')}"
            )
        anchor = f"{suite_key}-{entry['id']}"
        parts.append(
            f"<tr><td class='l'><a href='#{esc(anchor)}'>{esc(entry['id'])}</a></td>"
            f"{_trend_cell(entry['trend'])}<td class='l'>{'<br>'.join(items)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _baseline(compared: Mapping[str, Any]) -> list[str]:
    """--compare / compare_to: what the run is compared with, and whether the suite changed."""
    if not compared:
        return []
    previous = compared.get("previous_run") or {}
    when = compared.get("previous_generated_at") or previous.get("started_at")
    text = (
        f"Compared with {esc(str(compared.get('baseline') or 'a previous run'))}"
        + (f" of {esc(str(when)[:16].replace('T', ' '))}" if when else "")
        + f" (suite hash <code>{esc(str(compared.get('previous_hash') or '')[:16])}</code>"
        + (f", KB version {esc(str(previous['kb_version']))}" if "kb_version" in previous else "")
        + ")."
    )
    if not compared.get("same_suite", True):
        text += (
            " <span class='bad'>The suite changed since then (another suite hash): clusters "
            "are compared by id, and the overall scores are over different questions.</span>"
        )
    return [f"<p class='meta'>{text}</p>"]


def render_report(
    results: Sequence[Mapping[str, Any]],
    comparisons: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """One HTML page for one or more suite results; `comparisons` maps a suite name to
    `evals.metrics.compare` output (the --compare deltas; by default each result's own
    `compare.metrics`). A result's `compare.clusters` adds what changed per cluster."""
    names = ", ".join(r["suite"]["name"] for r in results)
    title = f"Answer consistency: {names}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='meta'>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
        "<code>threadline evals run</code>.</p>",
    ]
    for n, result in enumerate(results):
        suite = result["suite"]
        run = result.get("run", {})
        key = f"s{n}"
        compared = result.get("compare") or {}
        comparison = (comparisons or {}).get(suite["name"]) or compared.get("metrics")
        parts += [
            f"<h2>Suite {esc(suite['name'])}</h2>",
            f"<p>{esc(suite.get('description') or '')}</p>",
            "<p class='meta'>"
            f"{suite['clusters']} clusters, {suite['variants']} variants; suite hash "
            f"<code>{esc(suite['hash'][:16])}</code>; drafter {esc(str(run.get('drafter')))}"
            + (f" ({esc(str(run.get('model')))})" if run.get("model") else "")
            + f"; prompts {esc(', '.join(run.get('prompt_versions') or []) or 'none')}; "
            f"intent model {esc(str(run.get('intent_model')))}; KB {esc(str(run.get('kb_source')))}"
            f" version {esc(str(run.get('kb_version')))} "
            f"(<code>{esc(str(run.get('kb_fingerprint')))}</code>, "
            f"{esc(str(run.get('kb_documents')))} articles); repeat {esc(str(run.get('repeat')))}; "
            f"{esc(str(run.get('duration_s')))} s.</p>",
            "<h3>Summary</h3>",
            *_baseline(compared),
            *_summary(result, comparison),
            *_cluster_changes(compared.get("clusters"), key),
            "<h3>Clusters</h3>",
            *_cluster_table(result, key),
            "<h3>Drafts side by side</h3>",
            *_clusters(result, key),
            "<h3>Per expected intent</h3>",
            *_per_intent(result),
            "<h3>Routing</h3>",
            *_charts(result),
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
