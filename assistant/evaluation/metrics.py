"""Measuring the assistant on a gold question set: one `Row` per question and configuration, scored from
what users get (search results, the `policy-qa ask --json` object), then summed up into metrics.

A gold item names the passages that answer it as exact quotes of corpus files, and its key facts as
groups of acceptable spellings. Retrieval: a passage is a hit when it contains a gold quote that is
distinctive (occurs once in its file: a bare `责任单位：市税务局` recurs and proves nothing). Answers: right
when not refused and every key-fact group is present; an unanswerable question is right when refused.
Citations: verbatim when the quote is the document's text at its offsets; they cover the gold when they
overlap a gold quote; they are noise when the cited passage holds no gold quote.
"""

import statistics
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel

from assistant.documents.loaders import load_file

KS = (1, 3, 5, 10)
TYPES = ("fact", "measure", "owner", "list", "eligibility", "multi", "unanswerable", "currency")
# The metrics where lower is better; every other one is better higher.
LOWER_IS_BETTER = {"false_refusal_rate", "missed_not_retrieved", "missed_not_quoted", "citation_noise", "p50_ms", "p95_ms"}


class GoldQuote(BaseModel):
    file: str
    quote: str


class GoldItem(BaseModel):
    id: str
    question: str
    type: str = ""
    answer: str = ""  # reference answer
    # Key facts: each group lists acceptable spellings of one fact; all groups must appear.
    must_include: list[list[str]] = []
    gold: list[GoldQuote] = []

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    @property
    def documents(self) -> list[str]:
        return sorted({g.file for g in self.gold}) or ["(none)"]

    def missing_facts(self, answer: str) -> list[list[str]]:
        return [group for group in self.must_include if not any(alt in answer for alt in group)]


def load_gold(path: Path) -> list[GoldItem]:
    with path.open(encoding="utf-8") as lines:
        return [GoldItem.model_validate_json(line) for line in lines if line.strip()]


def select(items: list[GoldItem], limit: int | None = None, types: list[str] | None = None, step: int = 1) -> list[GoldItem]:
    """A fixed subset: every `step`-th item of the wanted types, at most `limit` of them."""
    chosen = [item for item in items if not types or item.type in types][::step]
    return chosen[:limit] if limit else chosen


class Corpus:
    """The documents as the loaders read them, for finding gold quotes and checking citation offsets."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._documents: dict = {}

    def document(self, doc_id: str):
        if doc_id not in self._documents:
            self._documents[doc_id] = load_file(self.folder / doc_id)
        return self._documents[doc_id]

    def text(self, doc_id: str) -> str:
        return self.document(doc_id).text

    def is_national(self, item: "GoldItem") -> bool:
        """An answerable question whose every gold quote is in a national law or regulation."""
        return bool(item.gold) and all(self.document(g.file).level.startswith("国家") for g in item.gold)

    def spans(self, quote: GoldQuote) -> list[tuple[int, int]]:
        text, spans, at = self.text(quote.file), [], 0
        while (at := text.find(quote.quote, at)) >= 0:
            spans.append((at, at + len(quote.quote)))
            at += 1
        return spans

    def distinctive(self, item: GoldItem) -> list[GoldQuote]:
        quotes = [q for q in item.gold if len(self.spans(q)) == 1]
        return quotes or item.gold


@dataclass
class Passage:
    """A retrieved passage, from any configuration (ours or the baseline's)."""

    chunk_id: str
    doc_id: str
    text: str


@dataclass
class Row:
    """One question under one configuration."""

    config: str
    kind: str  # retrieval | answer
    item: GoldItem
    latency_ms: float
    retrieved: list[str]  # chunk ids, best first
    rank: int | None = None  # of the first passage holding a distinctive gold quote
    recall: float | None = None  # share of the item's gold quotes found in the top 5 passages
    answer: dict | None = None
    refused: bool | None = None
    missing: list[list[str]] = field(default_factory=list)
    correct: bool | None = None
    citations: int = 0
    verbatim: int = 0
    cited_gold: bool | None = None  # a citation overlaps a gold quote
    noise: int = 0  # citations whose passage holds no gold quote
    facts_retrieved: bool | None = None  # every key fact the answer lacks is in one of its passages
    judge: dict | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("item")
        return {"id": self.item.id, "type": self.item.type, "question": self.item.question, **data}


def score_retrieval(
    config: str, item: GoldItem, passages: list[Passage], latency_ms: float, corpus: Corpus, kind: str = "retrieval"
) -> Row:
    row = Row(config, kind, item, latency_ms, [p.chunk_id for p in passages])
    if item.answerable and item.gold:
        quotes = corpus.distinctive(item)
        row.rank = next(
            (rank for rank, p in enumerate(passages, start=1) if any(p.doc_id == q.file and q.quote in p.text for q in quotes)), None
        )
        found = {(q.file, q.quote) for q in item.gold for p in passages[:5] if p.doc_id == q.file and q.quote in p.text}
        row.recall = len(found) / len({(q.file, q.quote) for q in item.gold})
    return row


def score_answer(config: str, item: GoldItem, answer: dict, latency_ms: float, corpus: Corpus) -> Row:
    passages = [Passage(p["chunk_id"], p["chunk_id"].split("#")[0], p["text"]) for p in answer["retrieved"]]
    row = score_retrieval(config, item, passages, latency_ms, corpus, kind="answer")
    row.answer = answer
    row.refused = bool(answer["refused"])
    citations = answer["citations"]
    row.citations = len(citations)
    row.verbatim = sum(1 for c in citations if corpus.text(c["doc_id"])[c["start"] : c["end"]] == c["quote"])
    if item.answerable:
        row.missing = item.missing_facts(answer["answer"])
        row.facts_retrieved = all(any(alt in p.text for p in passages for alt in group) for group in row.missing)
        row.correct = not row.refused and not row.missing
        gold_spans = [(q.file, span) for q in item.gold for span in corpus.spans(q)]
        row.cited_gold = any(
            c["doc_id"] == doc and c["start"] < end and start < c["end"] for c in citations for doc, (start, end) in gold_spans
        )
        # Noise: the citation neither overlaps a gold quote nor comes from a passage holding a distinctive one.
        texts = {p.chunk_id: p.text for p in passages}
        distinctive = corpus.distinctive(item)
        row.noise = sum(
            1
            for c in citations
            if not any(c["doc_id"] == doc and c["start"] < end and start < c["end"] for doc, (start, end) in gold_spans)
            and not any(q.file == c["doc_id"] and q.quote in texts.get(c["chunk_id"], "") for q in distinctive)
        )
    else:
        row.correct = row.refused
    return row


# Why an answer to an answerable question lacks its key facts, and the summary key of each share: with
# key_fact_accuracy they add up to one, and tell a search problem from an answering one.
MISSES = {"refused": "false_refusal_rate", "not retrieved": "missed_not_retrieved", "not quoted": "missed_not_quoted"}


def miss(row: Row) -> str | None:
    """Why this answer to an answerable question is wrong: refused; a key fact it lacks is in none of the passages
    it was given ("not retrieved"); or every one it lacks is in them ("not quoted"). None for a right answer, an
    unanswerable question, or a retrieval row."""
    if row.answer is None or not row.item.answerable or row.correct:
        return None
    if row.refused:
        return "refused"
    return "not quoted" if row.facts_retrieved else "not retrieved"


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return round(values[0], 1) if values else 0.0
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def summarise(rows: list[Row]) -> dict:
    """The metrics of one configuration (or of one group of its questions)."""
    # Answer rows are scored on their answers; how their passages were found is the retrieval rows' job.
    ranked = [r for r in rows if r.item.answerable and r.item.gold and r.kind == "retrieval"]
    summary: dict = {"questions": len(rows)}
    if ranked:
        for k in KS:
            summary[f"hit@{k}"] = ratio(sum(1 for r in ranked if r.rank is not None and r.rank <= k), len(ranked))
        summary["mrr"] = ratio(sum(1 / r.rank for r in ranked if r.rank), len(ranked))
        multi = [r for r in ranked if len(r.item.gold) > 1]
        summary["quote_recall@5"] = ratio(sum(r.recall or 0 for r in multi), len(multi))
    answered = [r for r in rows if r.answer is not None]
    if answered:
        answerable = [r for r in answered if r.item.answerable]
        unanswerable = [r for r in answered if not r.item.answerable]
        refused = [r for r in answered if r.refused]
        citations = sum(r.citations for r in answered)
        answerable_citations = sum(r.citations for r in answerable)
        summary.update(
            key_fact_accuracy=ratio(sum(bool(r.correct) for r in answerable), len(answerable)),
            refusal_precision=ratio(sum(not r.item.answerable for r in refused), len(refused)),
            refusal_recall=ratio(sum(bool(r.refused) for r in unanswerable), len(unanswerable)),
            false_refusal_rate=ratio(sum(bool(r.refused) for r in answerable), len(answerable)),
            **{key: ratio(sum(miss(r) == why for r in answerable), len(answerable)) for why, key in MISSES.items() if why != "refused"},
            verbatim_quotes=ratio(sum(r.verbatim for r in answered), citations),
            citation_recall=ratio(sum(bool(r.cited_gold) for r in answerable), len(answerable)),
            citation_noise=ratio(sum(r.noise for r in answerable), answerable_citations),
            citations=citations,
        )
        judged = [r for r in answered if r.judge and r.item.answerable]
        if judged:
            summary.update(
                judge_correct=ratio(sum(bool(r.judge.get("correct")) for r in judged), len(judged)),
                judge_faithful=ratio(sum(bool(r.judge.get("faithful")) for r in judged), len(judged)),
                judge_agreement=ratio(sum(bool(r.judge.get("correct")) == bool(r.correct) for r in judged), len(judged)),
            )
    latencies = [r.latency_ms for r in rows]
    summary.update(p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95))
    return summary


# A configuration's results on the questions about national laws only are kept under this suffix.
LAWS = "@laws"


def national_laws(results: dict[str, list["Row"]], corpus: Corpus) -> dict[str, dict]:
    """The summary of every configuration on its questions about the national laws (the weaker half)."""
    return {config + LAWS: summarise([r for r in rows if corpus.is_national(r.item)]) for config, rows in results.items()}


def headline(summary: dict) -> tuple[str, float | None]:
    """The one figure that says how a configuration does on a group: key facts for answers (refusal recall
    on unanswerable questions), hit@5 for search."""
    if summary.get("key_fact_accuracy") is not None:
        return "key_fact_accuracy", summary["key_fact_accuracy"]
    if summary.get("refusal_recall") is not None:
        return "refusal_recall", summary["refusal_recall"]
    return "hit@5", summary.get("hit@5")


def breakdown(rows: list[Row], by: str) -> dict[str, dict]:
    """Metrics per question type (`by="type"`) or per gold document (`by="document"`)."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        keys = [row.item.type] if by == "type" else row.item.documents
        for key in keys:
            groups.setdefault(key, []).append(row)
    return {key: summarise(group) for key, group in sorted(groups.items())}


def load_thresholds(path: Path) -> dict:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def check_thresholds(summaries: dict[str, dict], thresholds: dict) -> list[str]:
    """Every metric below its floor (or above its ceiling, for latency and error rates), in words."""
    failures = []
    for config, limits in thresholds.get("minimum", {}).items():
        for metric, floor in limits.items():
            value = summaries.get(config, {}).get(metric)
            if value is None or value < floor:
                failures.append(f"{config} {metric} = {value}, below the threshold {floor}")
    for config, limits in thresholds.get("maximum", {}).items():
        for metric, ceiling in limits.items():
            value = summaries.get(config, {}).get(metric)
            if value is None or value > ceiling:
                failures.append(f"{config} {metric} = {value}, above the threshold {ceiling}")
    return failures


class MatchingCase(BaseModel):
    """A gold profile: the items a reviewer expects among the first ten, and items that must not match."""

    id: str
    description: str = ""
    profile: dict
    must_match: list[str]
    must_not_match: list[str] = []


def load_matching(path: Path) -> list[MatchingCase]:
    with path.open(encoding="utf-8") as lines:
        return [MatchingCase.model_validate_json(line) for line in lines if line.strip()]


def evaluate_matching(matcher, cases: list[MatchingCase], item_ids: set[str], k: int = 10) -> tuple[dict, list[dict]]:
    """recall@k: share of must-match items among the first k. must_not@k: share of must-not-match items among
    the first k. precision@k: of the labelled items among the first k, the share that are must-match.
    excluded: share of must-not-match items left out of the matched set altogether, as they should be. Labels
    naming no extracted item count as misses for recall and are left out of the must-not figures.
    `matcher` is the service (or the naive baseline): anything with `match(profile, limit=None)`."""
    from assistant.matching.profile import Profile

    rows = []
    for case in cases:
        result = matcher.match(Profile.model_validate(case.profile), limit=None)
        top = [m.item_id for m in result.items[:k]]
        matched = {m.item_id for m in result.items}
        hits = [i for i in case.must_match if i in top]
        wrong = [i for i in case.must_not_match if i in top]
        must_not = [i for i in case.must_not_match if i in item_ids]
        rows.append(
            {
                "id": case.id,
                "total": result.total,
                "hits": hits,
                "missed": [i for i in case.must_match if i not in top],
                "wrong_in_top": wrong,
                "wrongly_matched": [i for i in must_not if i in matched],
                "must_not": len(must_not),
                "recall": len(hits) / len(case.must_match) if case.must_match else None,
                "precision": len(hits) / (len(hits) + len(wrong)) if hits or wrong else None,
            }
        )
    recalls = [r["recall"] for r in rows if r["recall"] is not None]
    precisions = [r["precision"] for r in rows if r["precision"] is not None]
    must_not = sum(r["must_not"] for r in rows)
    summary = {
        "profiles": len(cases),
        f"recall@{k}": ratio(sum(recalls), len(recalls)),
        f"must_not@{k}": ratio(sum(len(r["wrong_in_top"]) for r in rows), must_not),
        f"precision@{k}": ratio(sum(precisions), len(precisions)),
        "excluded": ratio(must_not - sum(len(r["wrongly_matched"]) for r in rows), must_not),
        "matched_per_profile": ratio(sum(r["total"] for r in rows), len(rows)),
    }
    return summary, rows
