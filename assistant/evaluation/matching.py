"""Measuring policy matching on gold profiles: ours beside the naive matcher, on the development profiles
(`eval/matching.jsonl`, where knobs may be chosen, by cross-validation) and the frozen blind ones
(`eval/matching_blind.jsonl`, reported once per change, never tuned on).

The naive matcher is what a team builds first: BM25 (jieba) over every item's text, queried with the
profile's needs and industry, no eligibility at all.
"""

import statistics
from pathlib import Path

from assistant.evaluation.metrics import MatchingCase, evaluate_matching, load_matching
from assistant.evaluation.reports import BLIND
from assistant.evaluation.tuning import Fold, cross_validate
from assistant.matching.matcher import ItemIndex, MatchedItem, MatchResult
from assistant.matching.profile import Profile
from assistant.service.service import Service
from assistant.settings import Settings

NAIVE = "/naive"


class NaiveMatcher:
    """BM25 over the items, queried with the needs and the industry; every item with a score is listed."""

    def __init__(self, service: Service):
        self.items = {item.item_id: item for item in service.items()}
        self.index = ItemIndex(list(self.items.values()), service.kb.lexical.tokenizer)

    def match(self, profile: Profile, limit: int | None = None) -> MatchResult:
        scores = self.index.relevance(f"{profile.needs_text()} {profile.industry or ''}")
        ranked = sorted(scores, key=lambda item_id: (-scores[item_id], item_id))
        shown = ranked[:limit] if limit else ranked
        return MatchResult(
            total=len(ranked),
            items=[MatchedItem.of(self.items[i], n, round(scores[i], 3)) for n, i in enumerate(shown, 1)],
            profile=profile,
        )


def matching_runs(service: Service, development: Path, blind: Path | None) -> dict[str, tuple[dict, list[dict]]]:
    """Summaries and per-profile rows: "matching" and "matching/naive", and "blind/…" for the blind profiles."""
    item_ids = {item.item_id for item in service.items()}
    naive = NaiveMatcher(service)
    runs = {}
    for prefix, path in (("", development), (BLIND, blind)):
        if path is None or not path.exists():
            continue
        cases = load_matching(path)
        runs[f"{prefix}matching"] = evaluate_matching(service, cases, item_ids)
        runs[f"{prefix}matching{NAIVE}"] = evaluate_matching(naive, cases, item_ids)
    return runs


def profile_score(row: dict) -> float:
    """What one profile contributes when a knob is chosen: expected items found, less must-not items shown."""
    wrong = len(row["wrong_in_top"]) / row["must_not"] if row["must_not"] else 0.0
    return (row["recall"] or 0.0) - wrong


def tune_matching(settings: Settings, cases: list[MatchingCase], knob: str, values: list, folds: int = 5) -> tuple[dict, list[Fold]]:
    """Each value run over the development profiles; each fold scored with the value chosen on the others."""
    if knob not in Settings.model_fields:
        raise ValueError(f"unknown setting '{knob}'; choose one of {', '.join(sorted(Settings.model_fields))}")
    scores = {}
    for value in values:
        service = Service(settings.model_copy(update={knob: value}))
        _, rows = evaluate_matching(service, cases, {item.item_id for item in service.items()})
        scores[value] = [profile_score(row) for row in rows]
    whole = {value: round(statistics.mean(s), 4) for value, s in scores.items()}
    return whole, cross_validate(scores, folds)
