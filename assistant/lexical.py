"""The lexical half of hybrid search: jieba tokens (with a dictionary of policy terms) scored by BM25 (bm25s)."""

import logging
import re
from functools import cached_property
from importlib import resources
from pathlib import Path

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

# Words that occur in nearly every question or clause and so only add noise to BM25 scores.
STOPWORDS = frozenset(
    "的 了 和 与 及 或 是 在 有 对 为 把 被 让 给 从 向 等 也 都 就 还 又 而 并 其 之 以 于 由 中 上 下 "
    "吗 呢 吧 啊 呀 嘛 么 哪 哪些 什么 怎么 怎样 如何 多少 几 谁 是否 能否 可以 能 会 要 需要 应当 "
    "我 我们 我们公司 你 你们 他 他们 这 这个 那 那个 这些 那些 一个 一些 有没有 没有 不 个 些 "
    "请问 想 想问 问 一下 现在 今年 规定 相关 有关 进行 开展 推进 推动 持续 加强 加大".split()
)
_WORD = re.compile(r"[\w\u4e00-\u9fff‰%]")


class Tokenizer:
    """A jieba tokenizer of its own (not jieba's global one), loaded with the policy-term dictionary."""

    def __init__(self) -> None:
        self._jieba = jieba.Tokenizer()
        with resources.as_file(resources.files("assistant") / "data" / "policy_terms.txt") as terms:
            self._jieba.load_userdict(str(terms))

    def __call__(self, text: str) -> list[str]:
        tokens = (token.strip().lower() for token in self._jieba.lcut_for_search(text))
        return [t for t in tokens if t and t not in STOPWORDS and _WORD.search(t)]


class LexicalIndex:
    """BM25 over chunk texts; row i of the index is `ids[i]`."""

    def __init__(self, model: bm25s.BM25, ids: list[str], tokenizer: Tokenizer):
        self.model = model
        self.ids = ids
        self.tokenizer = tokenizer

    @classmethod
    def build(cls, ids: list[str], texts: list[str], tokenizer: Tokenizer) -> "LexicalIndex":
        model = bm25s.BM25()
        model.index([tokenizer(text) or ["\u0000"] for text in texts], show_progress=False)
        return cls(model, list(ids), tokenizer)

    def save(self, folder: Path) -> None:
        self.model.save(str(folder), show_progress=False)
        (folder / "ids.txt").write_text("\n".join(self.ids), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, tokenizer: Tokenizer) -> "LexicalIndex":
        model = bm25s.BM25.load(str(folder), show_progress=False)
        ids = (folder / "ids.txt").read_text(encoding="utf-8").split("\n")
        return cls(model, ids, tokenizer)

    @cached_property
    def _vocab(self) -> dict:
        return self.model.vocab_dict

    @cached_property
    def _idf(self) -> np.ndarray:
        # bm25s keeps its scores as a CSC matrix with one column per token: a column's length is the token's document frequency.
        df = np.diff(self.model.scores["indptr"])
        n = len(self.ids)
        return np.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def idf(self, token: str) -> float:
        """How rare a token is in the corpus; unknown tokens count as the rarest."""
        column = self._vocab.get(token)
        return float(self._idf[column]) if column is not None else float(self._idf.max())

    def scores(self, query: str) -> np.ndarray:
        tokens = [t for t in self.tokenizer(query) if t in self._vocab]
        if not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.model.get_scores(tokens)

    def search(self, query: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The k best (chunk id, score) pairs with a positive score, optionally only among `allowed` ids."""
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")
        results = []
        for row in order:
            if scores[row] <= 0 or len(results) == k:
                break
            if allowed is None or self.ids[row] in allowed:
                results.append((self.ids[row], float(scores[row])))
        return results
