"""Running configurations over a gold set: every question through every configuration, through the same
entry points users call (`Service.search`, `Service.ask`), scored by `metrics`.

Retrieval configurations: `bm25`, `dense`, `hybrid` (ours) and `baseline` (the LangChain tutorial's).
Answer configurations: `extractive`, `llm`, and `baseline-extractive` / `baseline-llm`.
"""

import time

from tqdm import tqdm

from assistant.errors import PolicyQAError
from assistant.evaluation.baseline import Baseline
from assistant.evaluation.judge import judge
from assistant.evaluation.metrics import Corpus, GoldItem, Passage, Row, score_answer, score_retrieval
from assistant.retrieval.hybrid import MODES, SearchHit
from assistant.service.service import Service
from assistant.settings import Settings

CONFIGS = ("bm25", "dense", "hybrid", "baseline", "extractive", "llm", "baseline-extractive", "baseline-llm")
RETRIEVAL_DEPTH = 10  # passages looked at for hit@10


class EvalError(PolicyQAError):
    """A configuration that cannot run here; the message says why."""


def default_configs(settings: Settings, compare: bool) -> list[str]:
    llm = settings.llm_configured
    if not compare:
        return ["hybrid", "llm" if llm else "extractive"]
    configs = ["bm25", "dense", "hybrid", "baseline", "extractive", "baseline-extractive"]
    return configs + ["llm", "baseline-llm"] if llm else configs


def check_configs(settings: Settings, configs: list[str]) -> None:
    for config in configs:
        if config not in CONFIGS:
            raise EvalError(f"unknown configuration '{config}'; choose from {', '.join(CONFIGS)}")
        if config.endswith("llm") and not settings.llm_configured:
            raise EvalError(f"'{config}' needs a language model: set POLICY_QA_LLM_API_KEY or POLICY_QA_LLM_BASE_URL")


def as_passages(hits: list[SearchHit]) -> list[Passage]:
    return [Passage(h.chunk.chunk_id, h.chunk.doc_id, h.chunk.text) for h in hits]


def run(
    service: Service, items: list[GoldItem], configs: list[str], with_judge: bool = False, progress: bool = True
) -> dict[str, list[Row]]:
    settings = service.settings
    check_configs(settings, configs)
    corpus = Corpus(settings.corpus_dir)
    baseline = Baseline(service) if any(c.startswith("baseline") for c in configs) else None
    judge_model = None
    if with_judge and settings.llm_configured:
        from assistant.answering.llm import chat_model

        judge_model = chat_model(settings)
    results: dict[str, list[Row]] = {}
    for config in configs:
        rows = results.setdefault(config, [])
        for item in tqdm(items, desc=f"eval {config}", unit="q", disable=not progress):
            started = time.perf_counter()
            if config in MODES:
                hits = service.search(item.question, RETRIEVAL_DEPTH, config)
                row = score_retrieval(config, item, as_passages(hits), elapsed(started), corpus)
            elif config == "baseline":
                hits = baseline.search(item.question, RETRIEVAL_DEPTH)
                row = score_retrieval(config, item, as_passages(hits), elapsed(started), corpus)
            else:
                if config.startswith("baseline-"):
                    answer = baseline.answer(item.question, config.removeprefix("baseline-"))
                else:
                    answer = service.ask(item.question, mode=config)
                row = score_answer(config, item, answer.model_dump(mode="json"), elapsed(started), corpus)
                if judge_model is not None:
                    row.judge = judge(judge_model, item, row.answer)
            rows.append(row)
    return results


def elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000
