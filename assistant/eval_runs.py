"""Running configurations over a gold set: every question through every configuration, through the same
entry points users call (`search`, `Assistant.ask`), scored by `evaluation`.

Retrieval configurations: `bm25`, `dense`, `hybrid` (ours) and `baseline` (the LangChain tutorial's).
Answer configurations: `extractive`, `llm`, and `baseline-extractive` / `baseline-llm`.
"""

import time

from tqdm import tqdm

from assistant.answer import Assistant
from assistant.baseline import Baseline
from assistant.evaluation import Corpus, GoldItem, Passage, Row, score_answer, score_retrieval
from assistant.judge import judge
from assistant.llm import chat_model
from assistant.retrieval import MODES, SearchHit, search

CONFIGS = ("bm25", "dense", "hybrid", "baseline", "extractive", "llm", "baseline-extractive", "baseline-llm")
RETRIEVAL_DEPTH = 10  # passages looked at for hit@10


class EvalError(Exception):
    """A configuration that cannot run here; the message says why."""


def default_configs(assistant: Assistant, compare: bool) -> list[str]:
    llm = assistant.settings.llm_configured
    if not compare:
        return ["hybrid", "llm" if llm else "extractive"]
    configs = ["bm25", "dense", "hybrid", "baseline", "extractive", "baseline-extractive"]
    return configs + ["llm", "baseline-llm"] if llm else configs


def check_configs(assistant: Assistant, configs: list[str]) -> None:
    for config in configs:
        if config not in CONFIGS:
            raise EvalError(f"unknown configuration '{config}'; choose from {', '.join(CONFIGS)}")
        if config.endswith("llm") and not assistant.settings.llm_configured:
            raise EvalError(f"'{config}' needs a language model: set POLICY_QA_LLM_API_KEY or POLICY_QA_LLM_BASE_URL")


def as_passages(hits: list[SearchHit]) -> list[Passage]:
    return [Passage(h.chunk.chunk_id, h.chunk.doc_id, h.chunk.text) for h in hits]


def run(assistant: Assistant, items: list[GoldItem], configs: list[str], with_judge: bool = False, progress: bool = True) -> dict[str, list[Row]]:
    check_configs(assistant, configs)
    corpus = Corpus(assistant.settings.corpus_dir)
    baseline = Baseline(assistant) if any(c.startswith("baseline") for c in configs) else None
    judge_model = chat_model(assistant.settings) if with_judge and assistant.settings.llm_configured else None
    results: dict[str, list[Row]] = {}
    for config in configs:
        rows = results.setdefault(config, [])
        for item in tqdm(items, desc=f"eval {config}", unit="q", disable=not progress):
            started = time.perf_counter()
            if config in MODES:
                hits = search(assistant.kb, item.question, RETRIEVAL_DEPTH, config)
                row = score_retrieval(config, item, as_passages(hits), elapsed(started), corpus)
            elif config == "baseline":
                hits = baseline.search(item.question, RETRIEVAL_DEPTH)
                row = score_retrieval(config, item, as_passages(hits), elapsed(started), corpus)
            else:
                if config.startswith("baseline-"):
                    answer = baseline.answer(item.question, config.removeprefix("baseline-"))
                else:
                    answer = assistant.ask(item.question, mode=config)
                row = score_answer(config, item, answer.model_dump(mode="json"), elapsed(started), corpus)
                if judge_model is not None:
                    row.judge = judge(judge_model, item, row.answer)
            rows.append(row)
    return results


def elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000
