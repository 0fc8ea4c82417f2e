"""The service, the one application layer: intent routing, verified answers first, errors raised before
streaming, one error root, and enrichment handed to ingest. A small real index (the plan and two regulations)."""

import json

import pytest
from pydantic import SecretStr

from assistant.answering.answer import AssistantError
from assistant.documents.loaders import LoadError
from assistant.errors import Forbidden, NotFound, PolicyQAError, Unavailable
from assistant.evaluation.runs import EvalError
from assistant.index.embeddings import EmbeddingError
from assistant.index.store import KnowledgeBaseError
from assistant.service.library import LibraryError
from assistant.service.reviews import ReviewError
from assistant.service.service import Citation, Message, Service
from conftest import app_corpus, make_settings
from fake_llm import FakeChatServer, Reply

WHICH_POLICIES = "我们是一家做猕猴桃加工的小微企业，在苍溪县，想贷款扩大生产，有哪些政策可以用？"


REVIEWER = "审核-口令-1"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Service:
    settings = app_corpus(tmp_path_factory.mktemp("service"))
    return Service(settings.model_copy(update={"reviewer_token": SecretStr(f"李解读={REVIEWER},赵解读=second-token")}))


def test_a_which_policies_question_is_answered_by_matching(service):
    events = list(service.stream(WHICH_POLICIES))
    assert [e.kind for e in events] == ["token", "answer"]
    answer = events[-1].answer
    assert answer.intent == "matching" and answer.matching.profile.region == "苍溪县"
    assert answer.answer == events[0].text and answer.answer.startswith("我理解的企业情况：地区：苍溪县")
    assert f"共有 {answer.matching.total} 项政策适用" in answer.answer and answer.answer_id
    # The same question through ask() gets the same answer.
    assert service.ask(WHICH_POLICIES).answer == answer.answer


def test_an_ordinary_question_is_answered_from_the_clauses(service):
    answer = service.ask("电子保函费率是多少？")
    assert answer.intent == "question" and answer.matching is None and "2.8‰" in answer.answer
    assert answer.retrieved[0].rank == 1


def test_a_verified_answer_comes_first(service):
    question = "失业保险金领取期限最长是多久？"
    answer = service.ask(question, mode="extractive")
    review = service.feedback(answer.model_dump(mode="json"), "正确", REVIEWER, comment="核对无误")
    assert review.reviewer == "李解读"
    events = list(service.stream(question, mode="extractive"))
    assert [e.kind for e in events][0] == "verified" and events[0].verified.id == review.id
    assert events[-1].answer.verified_answer.id == review.id and events[0].verified.reviewer == "李解读"


def test_only_interpreters_verify_and_read_reviews(service):
    """An anonymous 正确 must never turn an answer into one 'checked by an interpreter'."""
    question = "失业保险费由谁缴纳？"
    answer = service.ask(question, mode="extractive").model_dump(mode="json")
    for token in (None, "", "guess", REVIEWER + " ", REVIEWER.encode().decode("latin-1") + "x"):
        with pytest.raises(Forbidden, match="reviewer token"):
            service.feedback(answer, "正确", token)
        with pytest.raises(Forbidden, match="reviewer token"):
            service.review_list(token)
    assert service.reviews.verified(question) is None
    # The token as an HTTP header carries it: its UTF-8 bytes, decoded as Latin-1.
    as_header = REVIEWER.encode().decode("latin-1")
    assert service.feedback(answer, "正确", as_header).reviewer == "李解读"
    assert service.feedback(answer, "有误", "second-token").reviewer == "赵解读"
    assert [r.reviewer for r in service.review_list("second-token")][:2] == ["赵解读", "李解读"]


def test_without_reviewer_tokens_reviewing_is_disabled(tmp_path):
    service = Service(make_settings(tmp_path / "index"))
    with pytest.raises(Forbidden, match="POLICY_QA_REVIEWER_TOKEN"):
        service.review_list("anything")


def test_bad_requests_raise_before_anything_is_streamed(service):
    with pytest.raises(AssistantError, match="empty"):
        service.stream("   ")
    with pytest.raises(AssistantError, match="POLICY_QA_LLM_API_KEY"):
        service.stream("电子保函费率是多少？", mode="llm")
    with pytest.raises(NotFound, match="ask again"):
        service.source(Citation(n=1, chunk_id="没有这个.md#0001", doc_id="没有这个.md", doc_title="", quote="x", start=0, end=1))
    with pytest.raises(Forbidden, match="POLICY_QA_ADMIN_TOKEN"):
        service.delete("失业保险条例.md", token="guess")


def test_without_an_index_the_service_says_how_to_build_one(tmp_path):
    service = Service(make_settings(tmp_path / "none"))
    with pytest.raises(Unavailable, match="policy-qa ingest") as raised:
        service.search("电子保函费率是多少？")
    assert raised.value.status == 503
    health = service.health()
    assert health.status == "unavailable" and "policy-qa ingest" in health.problem


def test_every_error_a_user_can_fix_is_a_policy_qa_error_with_its_status():
    statuses = {
        AssistantError: 400,
        LibraryError: 400,
        ReviewError: 400,
        LoadError: 400,
        EvalError: 400,
        Forbidden: 403,
        NotFound: 404,
        Unavailable: 503,
        KnowledgeBaseError: 503,
        EmbeddingError: 503,
    }
    for error, status in statuses.items():
        assert issubclass(error, PolicyQAError) and error.status == status, error


def test_ingest_runs_the_model_refinement_the_service_hands_it(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "猕猴桃通知.md").write_text(
        "# 关于支持猕猴桃加工企业发展的通知\n\n一、对新建猕猴桃冷链仓储的加工企业，按设备投资额的10%给予补助。\n", encoding="utf-8"
    )
    server = FakeChatServer().start()
    try:
        server.script(Reply(json.dumps({"beneficiaries": [{"value": "农业经营主体", "evidence": "猕猴桃冷链仓储"}]}, ensure_ascii=False)))
        settings = make_settings(tmp_path / "index", corpus, llm_base_url=server.base_url, llm_max_retries=0, refine_items=True)
        service = Service(settings)
        assert service.ingest().ok
        [item] = service.items()
    finally:
        server.stop()
    assert item.refined and ("农业经营主体", "猕猴桃冷链仓储") in {(t.value, t.evidence) for t in item.beneficiaries}
    assert Service(make_settings(tmp_path / "index2", corpus)).enrichment() is None  # no model configured: nothing to refine


def test_every_face_gets_the_same_bounds_on_a_request(service):
    with pytest.raises(AssistantError, match="at most 2000"):
        service.stream("电子保函费率是多少？" * 300)
    history = [Message(role="user", content="电子保函的费率是多少？" * 500)] * 100  # trimmed, not refused
    answer = service.ask("以后还会降吗？", history, mode="extractive")
    assert answer.answer and len(answer.standalone_question) < 100


def test_a_broken_thesaurus_makes_the_service_unavailable_with_a_clear_message(service, tmp_path):
    bad = tmp_path / "thesaurus.tsv"
    bad.write_text("招人\t招用\n只有一列\n", encoding="utf-8")
    broken = Service(service.settings.model_copy(update={"thesaurus": bad}))
    with pytest.raises(Unavailable, match="thesaurus cannot be read.*line 2"):
        broken.search("招人有补贴吗？")
    assert "thesaurus" in broken.health().problem
