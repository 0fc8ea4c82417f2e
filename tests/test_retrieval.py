"""Hybrid retrieval over the full corpus, with the real embedding model, Chroma and BM25."""

import pytest

from assistant.documents.sentences import is_statement, statements
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.store import sentence_vector_ids, split_vector_id, vector_keys
from assistant.retrieval.hybrid import SearchFilters, search
from assistant.retrieval.retriever import HybridRetriever
from conftest import PLAN


def test_everyday_question_finds_the_electricity_measure(kb):
    hits = search(kb, "我们是小微企业，用电接入要自己出钱吗？", k=5)
    assert "160千瓦及以下居民、小微企业" in hits[0].chunk.text
    assert hits[0].chunk.section == "一、开展降本增效攻坚行动 > （十六）降低用电成本"
    assert hits[0].bm25_rank and hits[0].dense_rank  # both retrievers found it
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_who_is_responsible_retrieves_measure_and_duty_line_together(kb):
    hits = search(kb, "电子保函费率降低这件事谁负责？", k=5)
    top = next(h.chunk for h in hits if "保函费率" in h.chunk.text)
    assert "责任单位：市发展改革委；市级有关部门（单位）" in top.text


@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_single_modes_work_alone(kb, mode):
    hits = search(kb, "个体工商户可以申请转为企业吗", k=5, mode=mode)
    assert len(hits) == 5
    assert all((h.bm25_rank is None) == (mode == "dense") for h in hits)
    assert any(h.chunk.doc_id == "促进个体工商户发展条例.md" for h in hits)


def test_filters_by_document_level_and_region(kb):
    for mode in ("hybrid", "bm25", "dense"):
        local = search(kb, "降低企业成本", k=8, mode=mode, filters=SearchFilters(region="四川省广元市"))
        assert local and all(h.chunk.doc_id == PLAN for h in local)
        national = search(kb, "降低企业成本", k=8, mode=mode, filters=SearchFilters(level="国家"))
        assert national and all(h.chunk.level.startswith("国家") for h in national)
        one = search(kb, "注册资本", k=5, mode=mode, filters=SearchFilters(doc_ids=["失业保险条例.md"]))
        assert all(h.chunk.doc_id == "失业保险条例.md" for h in one)


def test_langchain_retriever_returns_documents_with_scores_and_ranks(kb):
    retriever = HybridRetriever(kb=kb, k=3)
    docs = retriever.invoke("政府采购项目电子化比例要达到多少")
    assert len(docs) == 3
    assert any("90%以上" in d.page_content for d in docs)
    meta = docs[0].metadata
    assert {"score", "rank", "bm25_rank", "dense_rank", "section", "doc_title", "doc_number"} <= set(meta)
    assert docs[0].id == meta["chunk_id"]


def test_empty_question_returns_nothing(kb):
    assert search(kb, "   ") == []


def test_a_sentence_of_a_long_article_finds_its_passage_by_its_own_vector(kb):
    # 第九条 of the payment regulation has four sentences; the whole article's vector is not near this question,
    # the vector of its first sentence (30 days for 机关、事业单位) is.
    vector = kb.embedder.embed_query("政府单位跟我们买东西，货款最迟多久要付清？")
    by_chunk, by_sentence = kb.dense_rankings(vector, 50)
    article = "保障中小企业款项支付条例.md#0011"
    assert "30日内支付款项" in kb.chunks[article].text
    assert article not in [cid for cid, _ in by_chunk[:10]]
    assert article in [cid for cid, _ in by_sentence[:3]]
    # Each ranking names a chunk once, with its similarity, best first.
    for ranking in (by_chunk, by_sentence):
        ids = [cid for cid, _ in ranking]
        assert len(ids) == len(set(ids)) and all(a[1] >= b[1] for a, b in zip(ranking, ranking[1:]))


def test_every_stating_sentence_is_a_vector_of_its_chunk(kb):
    chunk = kb.chunks["保障中小企业款项支付条例.md#0011"]
    keys = vector_keys([chunk])
    texts = [key.text for key in keys.values() if key.sentence is not None]
    assert texts == statements(chunk) and len(texts) >= 3
    assert texts[0].startswith("第九条 机关、事业单位从中小企业采购货物") and texts[0].endswith("交付之日起30日内支付款项；")
    stored = kb.collection.get(ids=list(keys), include=["metadatas"])
    assert sorted(stored["ids"]) == sorted(keys)
    assert {m["doc_id"] for m in stored["metadatas"]} == {chunk.doc_id}  # filters apply to sentence vectors too
    # A heading line and a 责任单位 line are no keys of their own.
    measure = next(c for c in kb.chunks.values() if c.section.endswith("（十六）降低用电成本"))
    assert not any(s.startswith("责任单位") for s in statements(measure))


def test_the_frame_of_a_notice_is_no_statement_but_a_lead_in_is(kb):
    """The plan's notice names its recipients and hands the plan over: those lines state no rule, and quoting
    them answered nothing. A lead-in that starts with 各 and ends with a colon is a statement."""
    header = next(c for c in kb.chunks.values() if c.doc_id == PLAN and "印发给你们" in c.text)
    said = statements(header)
    assert said and not any("印发给你们" in s or s.startswith("各县（区）人民政府") for s in said)
    frame = "各省、自治区、直辖市人民政府，国务院各部委、各直属机构："
    assert any(frame in c.text for c in kb.chunks.values())
    assert not any(frame in s for c in kb.chunks.values() for s in statements(c))
    assert is_statement("各级人民政府应当采取下列措施：", False)


def test_a_vector_id_names_its_chunk_whatever_the_file_name_holds():
    assert split_vector_id("a@b.c.md#0003@0123456789abcdef") == ("a@b.c.md#0003", "a@b.c.md#0003@0123456789abcdef", None)
    assert split_vector_id("a@b.c.md#0003@0123456789abcdef.12") == ("a@b.c.md#0003", "a@b.c.md#0003@0123456789abcdef", 12)
    assert sentence_vector_ids(["x@1", "y@2"], [2, 0]) == ["x@1", "x@1.0", "x@1.1", "y@2"]


def test_a_question_naming_a_county_favours_the_citys_own_measures(corpus_settings, kb):
    """利州区 is in 广元: the plan's finance measure comes before the national regulation's article; the same
    question without the place ranks as it does with the place weight off. (Measured with BM25 reading the
    passages alone: with their attached questions' words the plan's measure comes first even without the place.)"""
    plain = KnowledgeBase(corpus_settings.model_copy(update={"expand_passages": False}))
    without = KnowledgeBase(plain.settings.model_copy(update={"place_weight": 0.0, "local_weight": 0.0}))
    question = "利州区的小公司贷款难，有什么办法？"
    top = [hit.chunk for hit in search(plain, question, 5)]
    # Two of the plan's finance measures (（十一）优化金融服务水平 and the parks' 1.加强园区金融服务) tie within 0.3 %,
    # and which comes first moves with the last digits of the embeddings; both are the city's answer.
    assert top[0].doc_id == PLAN and "金融服务" in top[0].section
    assert any(c.section.endswith("（十一）优化金融服务水平") for c in top[:2])
    off = [hit.chunk for hit in search(without, question, 5)]
    assert off[0].doc_id != PLAN and any(c.section.endswith("（十一）优化金融服务水平") for c in off)
    expanded = [hit.chunk for hit in search(kb, question, 5)]
    assert expanded[0].doc_id == PLAN and "金融服务" in expanded[0].section
    placeless = "小公司贷款难，有什么办法？"
    unnamed = KnowledgeBase(corpus_settings.model_copy(update={"place_weight": 0.0}))
    assert [h.chunk.chunk_id for h in search(kb, placeless, 10)] == [h.chunk.chunk_id for h in search(unnamed, placeless, 10)]
    for base in (plain, without, unnamed):
        base.close()


def test_every_question_leans_towards_the_citys_own_documents(corpus_settings, kb):
    """The platform's askers are enterprises in 广元: a question that names no place still finds the plan's measure
    (the guarantee fee of at most 1 %) among the first five, which the national laws push out of them (to tenth
    place when this was written) when the city's documents get no lean."""
    flat = KnowledgeBase(corpus_settings.model_copy(update={"local_weight": 0.0}))
    question = "小微企业贷款请国有担保公司担保，费用大概几个点？"

    def rank_of_the_fee(base):
        hits = search(base, question, 10)
        return next((h.rank for h in hits if "融资担保平均费率不超过1%" in h.chunk.text), None)

    assert rank_of_the_fee(kb) <= 5
    flat_rank = rank_of_the_fee(flat)
    assert flat_rank is None or flat_rank > 5
    flat.close()


def test_bm25_weight_can_be_given_per_search(kb):
    """Matching searches each need with its own BM25 weight (`match_bm25_weight`); a search given a weight
    uses it instead of the setting's: with BM25 nearly alone, the fused order follows BM25's more closely."""
    question = "厂里的机器设备按几年折旧？"
    lexical = search(kb, question, k=10, mode="bm25")
    leaning = search(kb, question, k=10, bm25_weight=50.0)
    without_bm25 = search(kb, question, k=10, bm25_weight=0.0)
    lexical_first = {h.chunk.chunk_id for h in lexical[:5]}

    def shared(hits) -> int:
        return len(lexical_first & {h.chunk.chunk_id for h in hits[:5]})

    assert leaning[0].chunk.chunk_id == lexical[0].chunk.chunk_id
    assert shared(leaning) > shared(without_bm25)
    # Without the argument, the setting (POLICY_QA_BM25_WEIGHT) decides.
    configured = KnowledgeBase(kb.settings.model_copy(update={"bm25_weight": 50.0}))
    assert [h.chunk.chunk_id for h in search(configured, question, k=10)] == [h.chunk.chunk_id for h in leaning]
    configured.close()
