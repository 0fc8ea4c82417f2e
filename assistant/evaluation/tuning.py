"""Choosing a knob by cross-validation on the development set (`eval/gold.jsonl`), never on the blind split.

Every candidate value is run once over the whole set, through the service, and scored per question. Then for
each fold the value with the best mean on the other folds is chosen and scored on the fold it has not seen:
the mean of those held-out scores is what the choice is worth on new questions. The blind split is reported
separately, once per change, with the value chosen here.
"""

import statistics
from dataclasses import dataclass

from assistant.evaluation.metrics import GoldItem, Row
from assistant.evaluation.runs import run
from assistant.service.service import Service
from assistant.settings import Settings

# What one question contributes to the objective, by the kind of configuration scored.
OBJECTIVES = {
    "mrr": lambda row: 1 / row.rank if row.rank else 0.0,
    "hit@5": lambda row: 1.0 if row.rank and row.rank <= 5 else 0.0,
    "correct": lambda row: 1.0 if row.correct else 0.0,  # key facts present, or an unanswerable question refused
}


@dataclass
class Fold:
    number: int
    chosen: object
    held_out: float


@dataclass
class Tuning:
    knob: str
    objective: str
    config: str
    whole: dict  # value → mean score over the whole development set (what the choice would see without folds)
    folds: list[Fold]

    @property
    def held_out(self) -> float:
        return statistics.mean(f.held_out for f in self.folds)

    @property
    def best(self):
        """The value to ship: the best on the whole development set (each fold's choice is reported beside it)."""
        return max(self.whole, key=lambda value: (self.whole[value], -list(self.whole).index(value)))


def scored_rows(rows: list[Row], objective: str) -> list[float]:
    score = OBJECTIVES[objective]
    # Retrieval objectives only count questions that have passages to find.
    return [score(row) for row in rows if objective == "correct" or (row.item.answerable and row.item.gold)]


def cross_validate(scores: dict[object, list[float]], folds: int) -> list[Fold]:
    """Question i is in fold i % folds; each fold is scored with the value chosen on the others."""
    n = len(next(iter(scores.values())))
    results = []
    for fold in range(folds):
        train = [i for i in range(n) if i % folds != fold]
        test = [i for i in range(n) if i % folds == fold]
        chosen = max(scores, key=lambda value: (statistics.mean(scores[value][i] for i in train), -list(scores).index(value)))
        results.append(Fold(fold + 1, chosen, statistics.mean(scores[chosen][i] for i in test)))
    return results


def tune(settings: Settings, items: list[GoldItem], knob: str, values: list, config: str, objective: str, folds: int = 5) -> Tuning:
    if knob not in Settings.model_fields:
        raise ValueError(f"unknown setting '{knob}'; choose one of {', '.join(sorted(Settings.model_fields))}")
    scores = {}
    for value in values:
        service = Service(settings.model_copy(update={knob: value}))
        scores[value] = scored_rows(run(service, items, [config], progress=False)[config], objective)
    whole = {value: round(statistics.mean(s), 4) for value, s in scores.items()}
    return Tuning(knob, objective, config, whole, cross_validate(scores, folds))


def tuning_table(tuning: Tuning) -> str:
    lines = [f"{tuning.knob}: {tuning.objective} of {tuning.config}", "", "| value | whole dev set |", "|---|---|"]
    lines += [f"| {value} | {score:.3f} |" for value, score in tuning.whole.items()]
    lines += ["", "| fold | chosen on the other folds | held-out score |", "|---|---|---|"]
    lines += [f"| {f.number} | {f.chosen} | {f.held_out:.3f} |" for f in tuning.folds]
    lines += ["", f"held-out mean: {tuning.held_out:.3f}; best on the whole dev set: {tuning.best}"]
    return "\n".join(lines)
