"""Bridging everyday words to statutory ones: the thesaurus and the questions attached to passages, as data
(checked against the corpus) and in search (a real index of real policy text)."""

import json
import shutil

import numpy as np
import pytest

from assistant.documents.chunking import chunk_document
from assistant.documents.items import extract_items
from assistant.documents.loaders import load_file
from assistant.documents.questions import MAX_QUESTIONS_PER_SECTION, QUESTIONS_FOLDER, questions_file, read_questions_file
from assistant.evaluation.wording import shares_run
from assistant.index.ingest import corpus_files, ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.lexical import LexicalIndex, TermCounts, Tokenizer
from assistant.index.thesaurus import Thesaurus
from assistant.retrieval.hybrid import search
from assistant.service.service import Service
from conftest import CORPUS, ROOT, make_settings, section_texts
from fake_llm import FakeChatServer, Reply, Status

UNEMPLOYMENT = "失业保险条例.md"


def corpus_texts() -> list[str]:
    return [load_file(path).text for path in corpus_files(CORPUS)]


def test_the_thesaurus_maps_everyday_words_to_words_the_corpus_uses():
    thesaurus = Thesaurus.load()
    pairs = [(everyday, term) for everyday, terms in thesaurus.terms.items() for term in terms]
    assert len(pairs) >= 300
    texts = corpus_texts()
    missing = [term for _, term in pairs if not any(term in text for text in texts)]
    assert missing == []
    assert all(everyday != term for everyday, term in pairs)
    assert {"注销", "招用"} <= set(thesaurus.expand("公司不开了，招人的事也停了"))
    assert thesaurus.expand("我们要注销公司") == [] or "注销" not in thesaurus.expand("我们要注销公司")


def test_a_malformed_thesaurus_line_says_which_line():
    with pytest.raises(ValueError, match="line 2"):
        Thesaurus.parse("# 注释\n只有一列\n")


def test_every_passage_has_attached_questions_in_everyday_words():
    """Every article and measure with something to say has 2 or more questions (written in two rounds: 2-3 per
    article first, then 3 more in other voices; a measure of the plan, which holds several points, up to 10), and
    few of them borrow a 4-character run from their passage."""
    copied = total = 0
    for path in corpus_files(CORPUS):
        doc_id = path.relative_to(CORPUS).as_posix()
        document = load_file(path)
        chunks = chunk_document(document, doc_id, 500)
        texts = section_texts(doc_id, chunks)
        by_section: dict[str, list[str]] = {}
        for q in read_questions_file(questions_file(CORPUS, doc_id), doc_id):
            by_section.setdefault(q.section, []).append(q.text)
        assert set(by_section) <= set(texts), f"{doc_id}: questions name sections the document does not have"
        for item in extract_items(document, doc_id, chunks):
            assert 2 <= len(by_section.get(item.section, [])) <= MAX_QUESTIONS_PER_SECTION, (
                f"{item.item_id} has {len(by_section.get(item.section, []))}"
            )
        for section, questions in by_section.items():
            total += len(questions)
            copied += sum(shares_run(question, [texts[section]]) for question in questions)
    assert total >= 6500 and copied / total < 0.1


@pytest.fixture
def unemployment_corpus(tmp_path):
    """The unemployment-insurance regulations, with two questions attached to article 17."""
    corpus = tmp_path / "corpus"
    (corpus / QUESTIONS_FOLDER).mkdir(parents=True)
    shutil.copy(CORPUS / UNEMPLOYMENT, corpus / UNEMPLOYMENT)
    section = next(c.section for c in chunk_document(load_file(CORPUS / UNEMPLOYMENT), UNEMPLOYMENT, 500) if "第十七条" in c.section)
    line = {"section": section, "questions": ["厂子倒了我下岗了，能拿几个月的钱？", "交了三年的失业险，丢了工作能领多久？"]}
    questions_file(corpus, UNEMPLOYMENT).write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    return corpus, section


def test_attached_questions_lead_search_to_their_passage(tmp_path, unemployment_corpus):
    corpus, section = unemployment_corpus
    settings = make_settings(tmp_path / "index", corpus, question_bm25_weight=2.0, question_dense_weight=1.0)
    report = ingest(settings)
    assert [f.status for f in report.files] == ["added"]  # the questions file is no document of its own
    kb = KnowledgeBase(settings)
    assert [q.text for q in kb.questions.values()] == ["厂子倒了我下岗了，能拿几个月的钱？", "交了三年的失业险，丢了工作能领多久？"]
    question = "干了三年被辞退了，补助能领多久"  # not one of its words is in article 17
    unlinked = {"question_bm25_weight": 0.0, "question_dense_weight": 0.0, "expand_passages": False}
    without = KnowledgeBase(settings.model_copy(update=unlinked))
    rank = {
        name: next(h.rank for h in search(base, question, k=10) if h.chunk.section == section)
        for name, base in [("with", kb), ("without", without)]
    }
    assert rank["with"] == 1 and rank["without"] > 3


def test_bm25_reads_a_passage_with_its_attached_questions_words(tmp_path, unemployment_corpus):
    """Document expansion: 下岗 is in no article of the regulation, only in a question attached to article 17; the
    expanded BM25 finds the article by it, the plain one finds nothing, and BM25 alone ranks the article first for
    a question in those words only when it reads the questions too."""
    corpus, section = unemployment_corpus
    settings = make_settings(tmp_path / "index", corpus)
    ingest(settings)
    kb = KnowledgeBase(settings)
    assert kb.expanded_lexical is not None
    assert kb.lexical.search("下岗", 5) == []
    found = kb.expanded_lexical.search("下岗", 5)
    assert [kb.chunks[cid].section for cid, _ in found] == [section]
    question = "厂子倒闭了下岗，钱能拿几个月"

    def rank_by_bm25(expand: bool) -> int | None:
        base = KnowledgeBase(settings.model_copy(update={"expand_passages": expand}))
        rank = next((h.rank for h in search(base, question, 5, mode="bm25") if h.chunk.section == section), None)
        base.close()
        return rank

    assert rank_by_bm25(True) == 1 and rank_by_bm25(False) != 1


def test_an_index_built_before_the_expanded_bm25_gets_it_at_the_next_ingest(tmp_path, unemployment_corpus):
    """Nothing in the corpus changed, but the live build has no expanded BM25 (it was written before there was one):
    the ingest writes a new build with it, embedding nothing."""
    corpus, section = unemployment_corpus
    settings = make_settings(tmp_path / "index", corpus)
    first = ingest(settings)
    shutil.rmtree(settings.index_dir / "builds" / first.build_id / "bm25-expanded")
    assert KnowledgeBase(settings).expanded_lexical is None
    second = ingest(settings)
    assert second.build_id and second.build_id != first.build_id and second.embedded == 0
    assert KnowledgeBase(settings).expanded_lexical is not None
    assert ingest(settings).build_id is None  # and then nothing more to do


def test_an_incremental_build_expands_the_passages_as_a_full_build_does(tmp_path, unemployment_corpus):
    """The expanded BM25 of a build that takes the unchanged regulation's rows from the previous build, beside a
    changed document, scores every passage as a build made from nothing."""
    corpus, _ = unemployment_corpus
    other = corpus / "促进个体工商户发展条例.md"
    shutil.copy(CORPUS / other.name, other)
    settings = make_settings(tmp_path / "index", corpus)
    ingest(settings)
    other.write_text(
        other.read_text(encoding="utf-8") + "\n第四十条 个体工商户可以申请转为企业，登记机关应当提供便利。\n", encoding="utf-8"
    )
    report = ingest(settings)
    assert sorted((f.file, f.status) for f in report.files) == [(other.name, "changed"), (UNEMPLOYMENT, "unchanged")]
    full = make_settings(tmp_path / "full", corpus)
    ingest(full)
    incremental, fresh = KnowledgeBase(settings), KnowledgeBase(full)
    assert incremental.expanded_lexical.ids == fresh.expanded_lexical.ids
    for query in ("厂子倒了下岗能拿几个月", "个体户转为企业", "失业保险金领取期限"):
        assert np.array_equal(incremental.expanded_lexical.scores(query), fresh.expanded_lexical.scores(query)), query
    assert incremental.expanded_lexical.search("下岗", 3) and not incremental.lexical.search("下岗", 3)
    incremental.close()
    fresh.close()


def test_expanded_counts_score_as_the_passages_and_their_questions_read_together():
    """The expanded index comes from term counts, not from tokenising the passages again; its BM25 scores are the
    floats bm25s gives the concatenated tokens."""
    tokenizer = Tokenizer()
    passages = [
        "第十七条 失业人员失业前所在单位和本人按照规定累计缴费时间满1年不足5年的，领取失业保险金的期限最长为12个月",
        "第十八条 失业保险金的标准，按照低于当地最低工资标准、高于城市居民最低生活保障标准的水平确定",
    ]
    questions = ["厂子倒了我下岗了，能拿几个月的钱？", "失业金一个月能拿多少？", "交了三年失业险能领多久？"]
    passage_tokens, question_tokens = [tokenizer(t) for t in passages], [tokenizer(q) for q in questions]
    counts = TermCounts.count(passage_tokens).with_attached(TermCounts.count(question_tokens), [(0, 0), (1, 1), (0, 2)])
    from_counts = LexicalIndex.from_counts(["a", "b"], counts, tokenizer)
    together = [passage_tokens[0] + question_tokens[0] + question_tokens[2], passage_tokens[1] + question_tokens[1]]
    concatenated = LexicalIndex.from_tokens(["a", "b"], together, tokenizer)
    for query in ("下岗能拿几个月", "失业金一个月多少", "最低工资标准", "注销登记"):
        assert np.array_equal(from_counts.scores(query), concatenated.scores(query)), query
    assert from_counts.search("下岗", 2)[0][0] == "a" and from_counts.search("失业金多少", 2)[0][0] == "b"


def test_editing_a_questions_file_re_ingests_its_document_and_a_broken_one_costs_only_the_questions(tmp_path, unemployment_corpus):
    corpus, section = unemployment_corpus
    settings = make_settings(tmp_path / "index", corpus)
    ingest(settings)
    path = questions_file(corpus, UNEMPLOYMENT)
    path.write_text(
        path.read_text(encoding="utf-8")
        + json.dumps({"section": section, "questions": ["失业金最多领几个月？"]}, ensure_ascii=False)
        + "\n"
    )
    assert [f.status for f in ingest(settings).files] == ["changed"]
    assert len(KnowledgeBase(settings).questions) == 3
    path.write_text(path.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    [report] = ingest(settings).files
    assert report.status == "changed" and "失业保险条例.jsonl:3: not valid JSON" in report.message
    assert "indexed without its attached questions" in report.message
    kb = KnowledgeBase(settings)
    assert kb.questions == {} and len(kb.chunks) == report.chunks > 30  # the document itself stays searchable


def test_the_model_writes_questions_for_a_new_document_without_a_questions_file(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / UNEMPLOYMENT, corpus / UNEMPLOYMENT)
    server = FakeChatServer().start()
    try:
        server.script(Reply('["下岗了能领多久的钱？", "失业金一个月给多少？"]'))
        settings = make_settings(tmp_path / "index", corpus, llm_base_url=server.base_url, llm_max_retries=0)
        assert Service(settings).ingest().ok
        items = len(server.requests)
    finally:
        server.stop()
    questions = list(KnowledgeBase(settings).questions.values())
    assert items > 3 and {q.origin for q in questions} == {"model"}
    assert "下岗了能领多久的钱？" in {q.text for q in questions}
    prompt = server.requests[0]["messages"]
    assert "关联问题" in prompt[0]["content"] and "《失业保险条例》" in prompt[1]["content"]


def test_a_model_that_fails_stops_writing_questions_at_once(tmp_path):
    """An upload under a model that is down waits for one failed call, not one per item."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / UNEMPLOYMENT, corpus / UNEMPLOYMENT)
    server = FakeChatServer().start()
    try:
        server.script(Status(503))
        settings = make_settings(tmp_path / "index", corpus, llm_base_url=server.base_url, llm_max_retries=0)
        report = Service(settings).ingest()
        calls = len(server.requests)
    finally:
        server.stop()
    assert report.ok and calls == 1 and KnowledgeBase(settings).questions == {}
