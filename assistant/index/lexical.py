"""The lexical half of hybrid search: jieba tokens (with a dictionary of policy terms) scored by BM25 (bm25s).

Each build keeps its chunks' term counts (`TermCounts`: a sparse chunks × terms matrix). The next build takes the
rows of unchanged documents from it, adds the rows of new text, and computes every BM25 score again in a few
vectorised steps, exactly as bm25s's own indexing would (the same float32 scores), instead of indexing 100,000
token lists again.
"""

import gc
import hashlib
import io
import json
import logging
import math
import os
import pickle
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import bm25s
import jieba
import numpy as np
import scipy.sparse as sp

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
        model.index([t or [EMPTY] for t in tokens], show_progress=False)
        return cls(model, list(ids), tokenizer)

    @classmethod
    def from_counts(cls, ids: list[str], counts: "TermCounts", tokenizer: Tokenizer) -> "LexicalIndex":
        """The same index as `from_tokens` on the tokens the counts were made from, computed from the counts."""
        model = bm25s.BM25()
        model.scores, model.vocab_dict = counts.bm25_scores(model.k1, model.b, model.dtype)
        model.unique_token_ids_set = set(model.vocab_dict.values())
        model.nonoccurrence_array = None  # Lucene BM25 has none
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

    def search(
        self, query: str, k: int, allowed: set[str] | None = None, extra: str = "", extra_weight: float = 0.0
    ) -> list[tuple[str, float]]:
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


# A chunk with no tokens is indexed as this one token, so that every row has a length (as bm25s needs).
EMPTY = "\u0000"


@dataclass
class TermCounts:
    """How often each term occurs in each chunk: row i is chunk i, column j is `terms[j]`. A build keeps them
    (`save`), and the next build selects the rows of unchanged documents (`rows`) and appends new ones (`stack`)."""

    matrix: sp.csr_matrix  # int32 counts
    terms: list[str]

    @classmethod
    def count(cls, tokens: list[list[str]]) -> "TermCounts":
        column: dict[str, int] = {}
        indptr, indices = [0], []
        for row in tokens:
            indices += [column.setdefault(token, len(column)) for token in row or [EMPTY]]
            indptr.append(len(indices))
        ones = np.ones(len(indices), dtype=np.int32)
        matrix = sp.csr_matrix((ones, np.array(indices, dtype=np.int32), np.array(indptr)), shape=(len(tokens), len(column)))
        matrix.sum_duplicates()  # repeated tokens of a row become one count
        return cls(matrix, list(column))

    def rows(self, selected: np.ndarray) -> "TermCounts":
        return TermCounts(self.matrix[selected], self.terms)

    def stack(self, other: "TermCounts") -> "TermCounts":
        """These rows, then `other`'s, over the union of both vocabularies."""
        position = {term: j for j, term in enumerate(self.terms)}
        terms = list(self.terms)
        remap = np.array([position.get(t, -1) for t in other.terms], dtype=np.int64)
        for j in np.flatnonzero(remap < 0):
            remap[j] = len(terms)
            terms.append(other.terms[j])
        moved = sp.csr_matrix(
            (other.matrix.data, remap[other.matrix.indices], other.matrix.indptr), shape=(other.matrix.shape[0], len(terms))
        )
        mine = sp.csr_matrix((self.matrix.data, self.matrix.indices, self.matrix.indptr), shape=(self.matrix.shape[0], len(terms)))
        return TermCounts(sp.vstack([mine, moved], format="csr"), terms)

    def with_attached(self, extra: "TermCounts", pairs: list[tuple[int, int]]) -> "TermCounts":
        """These rows, each with the counts of the rows of `extra` attached to it added: `(i, j)` attaches row j of
        `extra` to row i (a passage and a question attached to its section)."""
        both = self.stack(extra)
        n = self.matrix.shape[0]
        rows = np.array([i for i, _ in pairs], dtype=np.int64)
        columns = np.array([j for _, j in pairs], dtype=np.int64)
        attach = sp.csr_matrix((np.ones(len(pairs), dtype=np.int32), (rows, columns)), shape=(n, extra.matrix.shape[0]))
        return TermCounts((both.matrix[:n] + attach @ both.matrix[n:]).tocsr(), both.terms).compact()

    def compact(self) -> "TermCounts":
        """Without the terms no row uses any more: a fresh index would never have seen them (and BM25's idf of
        an unknown term is the largest one seen)."""
        used = np.flatnonzero(np.diff(self.matrix.tocsc().indptr))
        if len(used) == len(self.terms):
            return self
        return TermCounts(self.matrix[:, used].tocsr(), [self.terms[j] for j in used])

    def bm25_scores(self, k1: float, b: float, dtype: str) -> tuple[dict, dict[str, int]]:
        """bm25s's score matrix (Lucene BM25) and vocabulary for these counts: each step as bm25s.BM25.index takes
        it (idf with math.log per document frequency, the length term in float64), so that the float32 scores
        come out bit for bit the same."""
        matrix = self.matrix.tocsr()
        matrix.sort_indices()
        n_docs = matrix.shape[0]
        lengths = np.asarray(matrix.sum(axis=1)).ravel().astype(np.int64)
        average = lengths.mean()
        df = np.diff(matrix.tocsc().indptr)
        values, where = np.unique(df, return_inverse=True)
        idf = np.array([math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in values.tolist()], dtype=dtype)[where]
        row_lengths = np.repeat(lengths, np.diff(matrix.indptr)).astype(np.float64)
        tf = matrix.data.astype(dtype).astype(np.float64)
        tfc = tf / (k1 * ((1 - b) + b * row_lengths / average) + tf)
        scores = (idf[matrix.indices].astype(np.float64) * tfc).astype(dtype)
        csc = sp.csr_matrix((scores, matrix.indices, matrix.indptr), shape=matrix.shape).tocsc()
        vocab = {term: j for j, term in enumerate(self.terms)}
        vocab.setdefault("", len(vocab))  # bm25s adds the empty token after the others
        return {"data": csc.data, "indices": csc.indices, "indptr": csc.indptr, "num_docs": n_docs}, vocab

    def save(self, folder: Path, signature: str) -> None:
        sp.save_npz(folder / "term-counts.npz", self.matrix, compressed=False)
        (folder / "terms.json").write_text(json.dumps({"tokenizer": signature, "terms": self.terms}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, signature: str) -> "TermCounts | None":
        """The counts a build kept; None when it kept none (made before they were kept) or another tokenizer
        cut its texts."""
        try:
            saved = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
            if saved.get("tokenizer") != signature:
                return None
            return cls(sp.load_npz(folder / "term-counts.npz").tocsr(), saved["terms"])
        except (OSError, ValueError, KeyError, AttributeError):
            return None


def read_tokens(folder: Path, signature: str) -> dict[str, list[str]]:
    """The tokens kept by a build made before builds kept term counts, by chunk id; none when it kept none or
    another tokenizer cut them."""
    try:
        with (folder / "tokens.jsonl").open(encoding="utf-8") as lines:
            if json.loads(next(lines, "{}")).get("tokenizer") != signature:
                return {}
            return dict(json.loads(line) for line in lines)
    except (OSError, ValueError, AttributeError):
        return {}
