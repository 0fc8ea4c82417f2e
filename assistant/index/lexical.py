"""The lexical half of hybrid search: jieba tokens (with a dictionary of policy terms) scored by BM25 (bm25s)."""

import json
import gc
import hashlib
import io
import logging
import os
import pickle
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
    """A jieba tokenizer of its own (not jieba's global one), loaded with the policy-term dictionary.

    jieba rebuilds its word-frequency table from a marshal cache at every start, which takes 1.2 s here;
    with `cache_dir` the finished table (with the policy terms) is kept as a pickle that loads in 0.3 s.
    The table is the same either way, so tokens are too.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._jieba = jieba.Tokenizer()
        terms = (resources.files("assistant") / "data" / "policy_terms.txt").read_bytes()
        # Another jieba or another term list may cut a text differently: tokens kept by a build name their tokenizer.
        self.signature = f"jieba-{jieba.__version__}-{hashlib.sha256(terms).hexdigest()[:12]}"
        cache = cache_dir / f"{self.signature}.pickle" if cache_dir else None
        if cache is None or not self._load(cache):
            self._jieba.load_userdict(io.BytesIO(terms))
            if cache is not None:
                self._save(cache)

    def _load(self, cache: Path) -> bool:
        try:
            with cache.open("rb") as handle:
                gc.disable()  # half a million small objects: the collector would walk them all, for nothing
                try:
                    freq, total = pickle.load(handle)
                finally:
                    gc.enable()
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            return False
        self._jieba.FREQ, self._jieba.total, self._jieba.initialized = freq, total, True
        return True

    def _save(self, cache: Path) -> None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(f".{os.getpid()}.tmp")
            with temporary.open("wb") as handle:
                pickle.dump((self._jieba.FREQ, self._jieba.total), handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, cache)
        except OSError:
            pass  # a read-only index folder: the next start builds the table again

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
        return cls.from_tokens(ids, [tokenizer(text) for text in texts], tokenizer)

    @classmethod
    def from_tokens(cls, ids: list[str], tokens: list[list[str]], tokenizer: Tokenizer) -> "LexicalIndex":
        model = bm25s.BM25()
        model.index([t or ["\u0000"] for t in tokens], show_progress=False)
        return cls(model, list(ids), tokenizer)

    def save(self, folder: Path) -> None:
        self.model.save(str(folder), show_progress=False)
        # JSON, not lines: an id holds the file name, and a file name may hold a newline.
        (folder / "ids.json").write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, tokenizer: Tokenizer) -> "LexicalIndex":
        model = bm25s.BM25.load(str(folder), show_progress=False)
        if (folder / "ids.json").exists():
            ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        else:  # a build written before ids were JSON
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

    def search(self, query: str, k: int, allowed: set[str] | None = None, extra: str = "", extra_weight: float = 0.0) -> list[tuple[str, float]]:
        """The k best (chunk id, score) pairs with a positive score, optionally only among `allowed` ids. BM25
        adds up over query terms, so `extra` terms (a query expansion) add their scores times `extra_weight`."""
        scores = self.scores(query)
        if extra and extra_weight:
            scores = scores + extra_weight * self.scores(extra)
        order = np.argsort(-scores, kind="stable")
        results = []
        for row in order:
            if scores[row] <= 0 or len(results) == k:
                break
            if allowed is None or self.ids[row] in allowed:
                results.append((self.ids[row], float(scores[row])))
        return results


def write_tokens(folder: Path, signature: str, ids: list[str], tokens: list[list[str]]) -> None:
    """Each chunk's tokens, one `[chunk id, tokens]` a line, after a line naming the tokenizer: the next build
    reuses those of unchanged documents instead of cutting every text again."""
    with (folder / "tokens.jsonl").open("w", encoding="utf-8") as out:
        out.write(json.dumps({"tokenizer": signature}) + "\n")
        for row in zip(ids, tokens):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_tokens(folder: Path, signature: str) -> dict[str, list[str]]:
    """The tokens a build kept, by chunk id; none when it kept none or another tokenizer cut them."""
    try:
        with (folder / "tokens.jsonl").open(encoding="utf-8") as lines:
            if json.loads(next(lines, "{}")).get("tokenizer") != signature:
                return {}
            return dict(json.loads(line) for line in lines)
    except (OSError, ValueError, AttributeError):
        return {}
