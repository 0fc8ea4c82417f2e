"""The `openai` embedding provider against a real local OpenAI-compatible embeddings server (deterministic
vectors): ingest and search through it, the vector cache in front of it, and its failure modes (429 and 5xx
retried, timeouts, an unknown model, vectors of the wrong size, an index built with another model)."""

import shutil

import pytest

from assistant.index.embeddings import EmbeddingError, make_provider
from assistant.index.ingest import ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.store import KnowledgeBaseError, vector_keys
from assistant.retrieval.hybrid import search
from conftest import CORPUS, make_settings
from fake_embeddings import Fail, FakeEmbeddingsServer, Slow, WrongSize


@pytest.fixture(scope="module")
def embedder():
    server = FakeEmbeddingsServer(dimensions=256).start()
    yield server
    server.stop()


def settings_for(tmp_path, embedder, **overrides):
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        corpus.mkdir()
        shutil.copy(CORPUS / "失业保险条例.md", corpus / "失业保险条例.md")
    values = {
        "embedding_provider": "openai",
        "embedding_model": "fake-embed",
        "embedding_base_url": embedder.base_url,
        "embedding_dimensions": 256,
        "embedding_max_retries": 2,
        "embedding_timeout": 2.0,
        "embedding_cache": tmp_path / "vectors.sqlite",
    }
    return make_settings(tmp_path / "index", corpus, **(values | overrides))


def test_ingest_and_search_through_the_endpoint(tmp_path, embedder):
    settings = settings_for(tmp_path, embedder)
    embedder.requests.clear()
    report = ingest(settings)
    kb = KnowledgeBase(settings)
    # Each chunk's text and each of its stating sentences, every distinct text embedded once.
    keys = vector_keys(list(kb.chunks.values()))
    assert report.ok and report.chunks > 10 and len(keys) > 2 * report.chunks
    assert report.embedded == len({key.text for key in keys.values()})
    assert all(r["model"] == "fake-embed" and r["dimensions"] == 256 for r in embedder.requests)
    assert max(len(r["input"]) for r in embedder.requests) <= settings.embedding_batch_size
    assert kb.manifest.embedding_model == "openai:fake-embed:256"
    assert any("第十七条" in h.chunk.section for h in search(kb, "领取失业保险金的期限最长为多少个月", 3, mode="dense"))
    # A second ingest of the same texts asks the endpoint for nothing: the vectors are cached.
    embedder.requests.clear()
    assert ingest(settings, rebuild=True).cached == len(keys) and not [r for r in embedder.requests if len(r["input"]) > 1]


def test_429_and_500_are_retried(tmp_path, embedder):
    provider = make_provider(settings_for(tmp_path, embedder))
    embedder.steps = [Fail(429, "slow down"), Fail(500)]
    assert len(provider.embed_documents(["失业保险金", "领取期限"])) == 2


def test_failures_say_what_to_fix(tmp_path, embedder):
    provider = make_provider(settings_for(tmp_path, embedder, embedding_max_retries=0))
    embedder.steps = [Fail(429, "slow down")]
    with pytest.raises(EmbeddingError, match="429"):
        provider.embed_query("失业保险金")
    embedder.steps = [Slow(3.0)]
    with pytest.raises(EmbeddingError, match="POLICY_QA_EMBEDDING_TIMEOUT"):
        provider.embed_query("失业保险金")
    embedder.steps = [WrongSize(32)]
    with pytest.raises(EmbeddingError, match="32-dimensional.*POLICY_QA_EMBEDDING_DIMENSIONS is 256"):
        provider.embed_query("失业保险金")
    with pytest.raises(EmbeddingError, match="404 for model 'no-such-model'"):
        make_provider(settings_for(tmp_path, embedder, embedding_model="no-such-model")).embed_query("失业保险金")
    with pytest.raises(EmbeddingError, match="POLICY_QA_EMBEDDING_BASE_URL"):
        make_provider(settings_for(tmp_path, embedder, embedding_base_url=None))


def test_an_index_built_with_another_size_is_refused(tmp_path, embedder):
    settings = settings_for(tmp_path, embedder)
    ingest(settings)
    with pytest.raises(KnowledgeBaseError, match="openai:fake-embed:256.*openai:fake-embed:32"):
        KnowledgeBase(settings.model_copy(update={"embedding_dimensions": 32}))
