"""`threadline kb lint`: contradictions and near-duplicates inside the knowledge base.

A **contradiction** is two sentences, in different chunks or articles about the same topic,
that state different values of the same kind of fact in the same context:

1. facts come from core.drafting.facts: money (same currency), percentages and durations
   (same dimension: hours, days or business days; weeks, months and years count as days);
2. each fact gets a *context*: the content words (light-stemmed, stopwords, numbers,
   e-mail addresses and links left out) within a few words of it in its sentence
   ("return … within … days of delivery");
3. two facts pair when their kinds match, their values differ, their contexts are similar
   (IDF-weighted overlap of the context words at least 0.35, two words shared) and their chunks are
   about the same topic (embedding cosine of the chunks, or a shared tag or title word);
4. sentences that state both values (ranges, "10 % off, 15 % from 50 units") never pair
   with themselves.

A **near-duplicate** is two articles whose mean chunk vectors have cosine above 0.95, or whose
texts have a rapidfuzz ratio of 90 or more. Its two sides show the most similar pair of
passages (one chunk of each article: highest cosine, else highest text ratio).

Everything here is pure apart from the `Embedder` port.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from core.drafting.facts import Fact, extract_facts
from core.ports import Embedder

CONTEXT_WORDS = 6  # words each side of a fact
MIN_CONTEXT_SIMILARITY = 0.35
MIN_SHARED_WORDS = 2
MIN_TOPIC_SIMILARITY = 0.45
DUPLICATE_COSINE = 0.95
DUPLICATE_RATIO = 90.0
PASSAGE_CHARS = 400  # of a near-duplicate's passages shown side by side

_STOP = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each few for from
    further get gets got had has have having he her here him his how i if in into is it its
    just let me more most my no nor not now of off on once only or other our out over own same
    she should so some such than that the their them then there these they this those through
    to too under until up us very was we were what when where which while who whom why will
    with would you your yours per within least most up until after before max maximum minimum
    usually normally typically around about approx approximately only just still e g eg ie
    der die das und ist nicht ein eine mit auf für von zu den dem sie es wir ihr innerhalb nach
    le la les et est pas un une avec pour de des du en vous dans el los las y es no una con por
    que del en
    """.split()
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_UNIT_WORDS = frozenset(
    """
    minute minutes min mins hour hours hr hrs h day days week weeks month months year years
    business working calendar bank eur euro euros usd dollar dollars gbp chf franc francs
    percent cent tag tage tagen werktag werktage werktagen woche wochen monat monate monaten jahr
    jahre jahren jour jours semaine semaines mois ans día días dias semana semanas mes meses
    año años stunde stunden heure heures hora horas prozent
    """.split()
)
_CLAUSE = re.compile(
    r"[;:()\[\],]|\s(?:and|or|but|while|whereas|und|oder|aber|et|ou|mais|y|o|pero)\s", re.I
)
_ANCHOR = re.compile(
    r"^\s*(?:of|from|after|since|following|nach|ab|seit|après|suivant|dès|de|desde|tras)\s+"
    r"(?:(?:the|your|a|an|der|die|das|dem|den|le|la|les|l'|el|la)\s+)*([^\W\d_]+)",
    re.I,
)
# E-mail addresses and links are no context: the company's domain is in every one of them
# ("no-reply@northwind-outfitters.example" and "orders@northwind-outfitters.example" would
# otherwise share "northwind", "outfitter" and "example").
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://|www\.)\S+", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])|\n+")
_MARKUP = re.compile(r"[*_`#>|]+")
_DAYS_PER = {"day": 1.0, "week": 7.0, "month": 30.0, "year": 365.0}


def _stem(word: str) -> str:
    w = word.lower().replace("’", "'").split("'")[0]
    for suffix in ("ing", "ies", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                break
            w = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return w


@dataclass(frozen=True)
class LintChunk:
    """A chunk with what the lint needs about its article."""

    document_id: str
    title: str
    text: str
    heading_path: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    audience: str = "public"
    language: str | None = None
    embedding_text: str = ""


@dataclass(frozen=True)
class Mention:
    """One fact in one sentence of one chunk, with its context words."""

    chunk: int
    sentence: str
    sentence_index: int
    kind: str
    value: str
    written: str
    dimension: str
    context: frozenset[str]
    anchor: str | None  # what a duration counts from ("of delivery" → "delivery")
    row: bool  # a table row
    values: frozenset[str]  # every value of this dimension in the sentence
    currencies: frozenset[str]  # currencies named in the sentence


@dataclass
class Side:
    document_id: str
    title: str
    section: str
    sentence: str
    value: str
    written: str


@dataclass
class Finding:
    """A contradiction (two sentences) or a near-duplicate pair of articles."""

    kind: str  # "contradiction" | "near_duplicate"
    a: Side
    b: Side
    fact_kind: str | None = None
    score: float = 0.0
    topic_similarity: float | None = None
    shared_context: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _clean(text: str) -> str:
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # markdown links → their text
    return " ".join(_MARKUP.sub(" ", text).split())


def sentences(text: str) -> list[tuple[str, bool]]:
    """Sentences (and list items, table rows) of a chunk, markup removed; True for a table
    row (its cells are separated by "|")."""
    out = []
    for part in _SENTENCE.split(text):
        raw = part.strip()
        cleaned = _clean(raw.lstrip("-•*").strip())
        if len(cleaned) > 3:
            out.append((cleaned, raw.count("|") >= 1))
    return out


def _dimension(fact: Fact) -> str | None:
    if fact.kind == "money":
        return "money:" + fact.value.split(" ")[0]
    if fact.kind == "percentage":
        return "percentage"
    if fact.kind == "duration":
        unit = fact.value.split(" ", 1)[1].rstrip("s")
        if unit.startswith("business"):
            return "duration:business"
        if unit in ("minute", "hour"):
            return "duration:hours"
        return "duration:days"
    return None


def _comparable(fact: Fact) -> str:
    """The value compared within a dimension: durations in days or hours ("4 weeks" = "28
    days"), everything else canonical."""
    if fact.kind != "duration":
        return fact.value
    qty, unit = fact.value.split(" ", 1)
    unit = unit.rstrip("s").removeprefix("business ")
    factor = _DAYS_PER.get(unit, 1.0 / 60 if unit == "minute" else 1.0)
    try:
        numbers = [float(x) * factor for x in qty.split("-")]
    except ValueError:
        return fact.value
    return "-".join(f"{n:g}" for n in numbers)


def _context(sentence: str, fact: Fact) -> frozenset[str]:
    """Content words near the fact, within its clause (", and …" starts another clause);
    the words of e-mail addresses and links are left out."""
    sentence = _ADDRESS.sub(lambda m: " " * len(m.group(0)), sentence)  # offsets kept
    start = 0
    end = len(sentence)
    for m in _CLAUSE.finditer(sentence):
        if m.end() <= fact.start:
            start = m.end()
        elif m.start() >= fact.end:
            end = m.start()
            break
    before = _WORD.findall(sentence[start : fact.start])[-CONTEXT_WORDS:]
    after = _WORD.findall(sentence[fact.end : end])[:CONTEXT_WORDS]
    return frozenset(
        _stem(w)
        for w in before + after
        if w.lower() not in _STOP and w.lower() not in _UNIT_WORDS and len(w) > 1
    )


def _anchor(sentence: str, fact: Fact) -> str | None:
    m = _ANCHOR.match(sentence[fact.end :])
    return _stem(m.group(1)) if m else None


def mentions(chunks: Sequence[LintChunk]) -> list[Mention]:
    """Every comparable fact of every chunk with its context."""
    out = []
    for ci, chunk in enumerate(chunks):
        for si, (sentence, row) in enumerate(sentences(chunk.text)):
            facts = extract_facts(sentence)
            currencies = frozenset(f.value.split(" ")[0] for f in facts if f.kind == "money")
            for fact in facts:
                dimension = _dimension(fact)
                if dimension is None:
                    continue
                values = frozenset(_comparable(f) for f in facts if _dimension(f) == dimension)
                out.append(
                    Mention(
                        chunk=ci,
                        sentence=sentence,
                        sentence_index=si,
                        kind=fact.kind,
                        value=_comparable(fact),
                        written=fact.text,
                        dimension=dimension,
                        context=_context(sentence, fact),
                        anchor=_anchor(sentence, fact),
                        row=row,
                        values=values,
                        currencies=currencies,
                    )
                )
    return out


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _title_words(title: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(title) if w.lower() not in _STOP and len(w) > 2}


def _related(a: LintChunk, b: LintChunk, cosine: float | None) -> bool:
    if cosine is not None and cosine >= MIN_TOPIC_SIMILARITY:
        return True
    if set(a.tags) & set(b.tags):
        return True
    return bool(_title_words(a.title) & _title_words(b.title))


def _side(chunk: LintChunk, m: Mention) -> Side:
    return Side(
        document_id=chunk.document_id,
        title=chunk.title,
        section=" > ".join(chunk.heading_path),
        sentence=m.sentence,
        value=m.value,
        written=m.written,
    )


def contradictions(
    chunks: Sequence[LintChunk], vectors: Sequence[Sequence[float]] | None = None
) -> list[Finding]:
    """Pairs of sentences stating different values of the same kind of fact in the same
    context, about the same topic (best first, one finding per sentence pair)."""
    found = mentions(chunks)
    df: Counter[str] = Counter(w for m in found for w in m.context)
    n = max(len(found), 1)

    def idf(word: str) -> float:
        return math.log(1 + n / df[word])

    units = [_unit(v) for v in vectors] if vectors is not None else None
    by_dimension: dict[str, list[Mention]] = {}
    for m in found:
        by_dimension.setdefault(m.dimension, []).append(m)
    best: dict[tuple[int, int, int, int], Finding] = {}
    for group in by_dimension.values():
        for x, y in combinations(group, 2):
            if x.value == y.value or (x.chunk == y.chunk and x.sentence_index == y.sentence_index):
                continue
            if x.sentence == y.sentence:
                continue
            shared = x.context & y.context
            if len(shared) < MIN_SHARED_WORDS:
                continue
            union = x.context | y.context
            similarity = sum(idf(w) for w in shared) / sum(idf(w) for w in union)
            if similarity < MIN_CONTEXT_SIMILARITY:
                continue
            a, b = chunks[x.chunk], chunks[y.chunk]
            cosine = _dot(units[x.chunk], units[y.chunk]) if units is not None else None
            if not _related(a, b, cosine):
                continue
            if _explained(x, y, chunks):
                continue
            key = (x.chunk, x.sentence_index, y.chunk, y.sentence_index)
            finding = Finding(
                kind="contradiction",
                a=_side(a, x),
                b=_side(b, y),
                fact_kind=x.kind,
                score=round(similarity, 3),
                topic_similarity=round(cosine, 3) if cosine is not None else None,
                shared_context=sorted(shared),
            )
            if key not in best or best[key].score < finding.score:
                best[key] = finding
    return sorted(best.values(), key=lambda f: (-f.score, f.a.document_id, f.b.document_id))


def _explained(x: Mention, y: Mention, chunks: Sequence[LintChunk]) -> bool:
    """Reasons two differing values are no contradiction."""
    if y.value in x.values or x.value in y.values:
        return True  # one sentence states both values: they are two cases, not a conflict
    if x.currencies and y.currencies and not x.currencies & y.currencies:
        return True  # different markets (EUR vs GBP prices)
    if x.anchor and y.anchor and x.anchor != y.anchor:
        return True  # counted from different things ("of delivery" vs "of the invoice")
    if x.row or y.row:
        # a table row is keyed by its section (EU / UK / US): compare within one section only
        return chunks[x.chunk].heading_path != chunks[y.chunk].heading_path
    return False


def near_duplicates(
    chunks: Sequence[LintChunk], vectors: Sequence[Sequence[float]] | None = None
) -> list[Finding]:
    """Articles whose mean chunk vectors have cosine > 0.95 or whose texts have a rapidfuzz
    ratio >= 90."""
    from rapidfuzz import fuzz

    docs: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        docs.setdefault(c.document_id, []).append(i)
    texts = {d: " ".join(chunks[i].text for i in idx) for d, idx in docs.items()}
    means: dict[str, list[float]] = {}
    if vectors is not None:
        for d, idx in docs.items():
            dim = len(vectors[idx[0]])
            means[d] = _unit([sum(vectors[i][k] for i in idx) / len(idx) for k in range(dim)])
    units = [_unit(v) for v in vectors] if vectors is not None else None

    def closest(a: str, b: str) -> tuple[int, int]:
        """The most similar pair of chunks of two articles."""

        def similarity(pair: tuple[int, int]) -> float:
            i, j = pair
            if units is not None:
                return _dot(units[i], units[j])
            return float(fuzz.ratio(chunks[i].text, chunks[j].text))

        return max(((i, j) for i in docs[a] for j in docs[b]), key=similarity)

    def side(document_id: str, index: int) -> Side:
        chunk = chunks[index]
        text = _clean(chunk.text)
        passage = text if len(text) <= PASSAGE_CHARS else text[:PASSAGE_CHARS].rstrip() + " …"
        return Side(document_id, chunk.title, " > ".join(chunk.heading_path), passage, "", "")

    out = []
    for a, b in combinations(sorted(docs), 2):
        cosine = _dot(means[a], means[b]) if means else None
        ratio = fuzz.ratio(" ".join(texts[a].split()), " ".join(texts[b].split()))
        if (cosine is not None and cosine > DUPLICATE_COSINE) or ratio >= DUPLICATE_RATIO:
            i, j = closest(a, b)
            out.append(
                Finding(
                    kind="near_duplicate",
                    a=side(a, i),
                    b=side(b, j),
                    score=round(ratio / 100, 3),
                    topic_similarity=round(cosine, 3) if cosine is not None else None,
                )
            )
    return sorted(out, key=lambda f: (-(f.topic_similarity or 0), -f.score))


def lint(chunks: Sequence[LintChunk], embedder: Embedder | None = None) -> list[Finding]:
    """Contradictions, then near-duplicates; chunks are embedded in one batched call."""
    vectors = None
    if embedder is not None and chunks:
        vectors = embedder.embed([c.embedding_text or c.text for c in chunks])
    return contradictions(chunks, vectors) + near_duplicates(chunks, vectors)


def chunks_from_documents(documents: Iterable[Any]) -> list[LintChunk]:
    """LintChunks of IncomingDocuments (kb_ingest) or KbDocuments (database)."""
    out = []
    for d in documents:
        for c in d.chunks:
            out.append(
                LintChunk(
                    document_id=d.id,
                    title=d.title,
                    text=c.text,
                    heading_path=tuple(c.heading_path),
                    tags=tuple(d.tags),
                    audience=d.audience,
                    language=d.language,
                    embedding_text=getattr(c, "embedding_text", "") or c.text,
                )
            )
    return out
