"""Policy currency: a clause a later source has changed is answered with the note beside it (CLI, API, service),
in both answer modes; the quote stays verbatim; an interpreter's note takes effect at once and a removed one
restores the plain answer. The full shipped corpus and its corpus/amendments.yaml."""

import json

import httpx
import pytest
from pydantic import SecretStr

from assistant.documents.amendments import Amendment, read_amendments
from assistant.errors import Forbidden
from assistant.service.service import AmendmentError, Service
from conftest import CORPUS, AppServer, app_corpus, assert_verbatim, make_settings, run_cli
from fake_llm import Reply, passage_number

REVIEWER = "解读员-口令"
# A question for the figure each shipped note changes: a new note needs its question here.
QUESTIONS = {
    "第九十五条": "企业研发费用加计扣除的比例是多少？",
    "第九十二条": "工业企业年度应纳税所得额不超过多少才算小型微利企业？",
    "符合条件的小型微利企业，减按20％的税率征收企业所得税。": "小型微利企业的企业所得税税率是多少？",
}
SHIPPED = read_amendments(CORPUS)


@pytest.fixture(scope="module")
def service(corpus_settings) -> Service:
    return Service(corpus_settings)


def test_every_shipped_note_has_a_question_and_names_its_source():
    assert {note.clause for note in SHIPPED} == set(QUESTIONS)
    for note in SHIPPED:
        assert note.source_number.startswith("财政部 税务总局公告") and note.effective and note.recorded_by


@pytest.mark.parametrize("note", SHIPPED, ids=lambda note: note.clause[:8])
def test_asking_for_a_changed_figure_shows_the_note(service, note):
    answer = service.ask(QUESTIONS[note.clause], mode="extractive")
    assert note.sentence() in answer.answer
    # Before the quote it changes, and beside the citation; the quote itself is the document's text.
    cited = next(c for c in answer.citations if any(n.note_id == note.note_id for n in c.amendments))
    assert answer.answer.index(note.sentence()) < answer.answer.index(cited.quote)
    assert_verbatim(answer)


def test_the_cli_and_the_api_show_every_shipped_note(corpus_settings):
    for note in SHIPPED:
        shown = run_cli(["ask", QUESTIONS[note.clause], "--mode", "extractive"], corpus_settings)
        assert shown.returncode == 0 and note.sentence() in shown.stdout
    as_json = json.loads(run_cli(["ask", QUESTIONS["第九十五条"], "--mode", "extractive", "--json"], corpus_settings).stdout)
    notes = [n for c in as_json["citations"] for n in c["amendments"]]
    assert notes and notes[0]["source_number"] == "财政部 税务总局公告2023年第7号" and notes[0]["superseded"] == ["50%", "150%"]
    server = AppServer(corpus_settings).wait()
    try:
        for note in SHIPPED:
            answer = httpx.post(f"{server.url}/api/ask", json={"question": QUESTIONS[note.clause], "mode": "extractive"}, timeout=60).json()
            assert note.sentence() in answer["answer"]
            assert any(n["note_id"] == note.note_id for c in answer["citations"] for n in c["amendments"])
    finally:
        server.stop()


def test_in_llm_mode_the_note_is_in_the_context_and_the_old_figure_is_flagged(corpus_settings, llm):
    service = Service(corpus_settings.model_copy(update={"llm_base_url": llm.base_url, "policy_rewrite": False}))
    llm.script(Reply(lambda r: f"研发费用按照50%加计扣除[{passage_number(r, '按照研究开发费用的50%加计扣除')}]。"))
    answer = service.ask(QUESTIONS["第九十五条"], mode="llm")
    prompt = llm.requests[-1]["messages"][-1]["content"]
    assert "【调整说明】此条款已调整" in prompt and "财政部 税务总局公告2023年第7号" in prompt
    assert "已被新规定调整" in answer.notice and "50%" in answer.notice
    assert answer.citations[0].amendments and answer.citations[0].quote in answer.retrieved[0].text + "".join(
        p.text for p in answer.retrieved
    )


def test_an_interpreters_note_takes_effect_at_once_and_its_removal_restores_the_answer(tmp_path_factory):
    settings = app_corpus(tmp_path_factory.mktemp("currency"))
    service = Service(settings.model_copy(update={"reviewer_token": SecretStr(f"周解读={REVIEWER}")}))
    question = "失业保险金最长可以领多久？"
    plain = service.ask(question, mode="extractive")
    assert "此条款已调整" not in plain.answer
    note = Amendment(
        doc_id="失业保险条例.md",
        clause="第十七条",
        change="（测试）领取期限按新规定执行",
        source_title="某省失业保险实施办法",
        source_number="某政发〔2026〕1号",
        effective="2026-07-01",
    )
    with pytest.raises(Forbidden):
        service.add_amendment(note, "guess")
    with pytest.raises(AmendmentError, match="第九百条"):
        service.add_amendment(note.model_copy(update={"clause": "第九百条"}), REVIEWER)
    saved = service.add_amendment(note, REVIEWER)
    assert saved.note_id.startswith("db-") and saved.recorded_by == "周解读"
    amended = service.ask(question, mode="extractive")
    assert "某政发〔2026〕1号" in amended.answer
    assert [c.quote for c in amended.citations] == [c.quote for c in plain.citations]  # nothing old is changed
    with pytest.raises(AmendmentError, match="corpus/amendments.yaml"):
        service.remove_amendment("file-0123456789ab", REVIEWER)
    service.remove_amendment(saved.note_id, REVIEWER)
    assert service.ask(question, mode="extractive").answer == plain.answer


@pytest.mark.slow
def test_the_amendments_api(tmp_path_factory):
    server = AppServer(app_corpus(tmp_path_factory.mktemp("currency-api")), POLICY_QA_REVIEWER_TOKEN=REVIEWER).wait()
    try:
        body = {
            "doc_id": "失业保险条例.md",
            "clause": "第十七条",
            "change": "（测试）领取期限按新规定执行",
            "source_title": "某省失业保险实施办法",
            "source_number": "某政发〔2026〕1号",
            "effective": "2026-07-01",
        }
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.post("/api/amendments", json=body).status_code == 403
            assert (
                client.post(
                    "/api/amendments", json=body | {"effective": "明年"}, headers={"X-Reviewer-Token": REVIEWER.encode()}
                ).status_code
                == 422
            )
            saved = client.post("/api/amendments", json=body, headers={"X-Reviewer-Token": REVIEWER.encode()}).json()
            assert [n["note_id"] for n in client.get("/api/amendments").json()] == [saved["note_id"]]
            answer = client.post("/api/ask", json={"question": "失业保险金最长可以领多久？", "mode": "extractive"}).json()
            assert "某政发〔2026〕1号" in answer["answer"] and any(c["amendments"] for c in answer["citations"])
            exported = client.get("/api/amendments.csv", headers={"X-Reviewer-Token": REVIEWER.encode()}).text
            assert "某政发〔2026〕1号" in exported
            assert client.delete(f"/api/amendments/{saved['note_id']}", headers={"X-Reviewer-Token": REVIEWER.encode()}).status_code == 200
            assert client.get("/api/amendments").json() == []
    finally:
        server.stop()


def test_a_malformed_amendments_file_says_which_entry(tmp_path):
    (tmp_path / "amendments.yaml").write_text("- doc_id: a.md\n  clause: 第一条\n", encoding="utf-8")
    with pytest.raises(ValueError, match="entry 1"):
        read_amendments(tmp_path)
    service = Service(make_settings(tmp_path / "index", tmp_path))
    with pytest.raises(Exception, match="entry 1"):
        service.amendment_notes()


def test_a_newer_document_links_itself_and_an_expired_one_is_left_out(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "失业保险条例.md").write_bytes((CORPUS / "失业保险条例.md").read_bytes())
    (corpus / "失业保险新规定.md").write_text(
        "---\ntitle: 某省失业保险待遇新规定\ndoc_number: 某人社发〔2026〕3号\neffective: 2026-03-01\n"
        "supersedes:\n  - doc: 失业保险条例.md\n    clause: 第十七条\n    change: 失业保险金领取期限按本规定执行\n---\n"
        "# 某省失业保险待遇新规定\n\n第一条 失业人员领取失业保险金的期限，累计缴费满1年不足5年的，最长为15个月。\n",
        encoding="utf-8",
    )
    (corpus / "过期通知.md").write_text(
        "---\ntitle: 关于猕猴桃冷链补贴的临时通知\nexpiry_date: 2020-12-31\n---\n"
        "# 关于猕猴桃冷链补贴的临时通知\n\n一、新建猕猴桃冷链仓储的企业，按投资额的10%给予补贴。\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path / "index", corpus)
    service = Service(settings)
    service.ingest()
    records = {d.doc_id: d for d in service.documents()}
    assert records["失业保险新规定.md"].effective_date == "2026-03-01"
    validity = service.validities()
    assert validity["过期通知.md"] == "已失效" and validity["失业保险条例.md"] == "部分条款已调整"
    hits = service.search("失业保险金最长领多久？", 5)
    ranks = {h.chunk.doc_id: h.rank for h in reversed(hits)}
    assert ranks["失业保险新规定.md"] < ranks.get("失业保险条例.md", 99)
    answer = service.ask("失业保险金最长领多久？", mode="extractive")
    old = [c for c in answer.citations if c.doc_id == "失业保险条例.md" and c.amendments]
    assert not old or old[0].amendments[0].source_number == "某人社发〔2026〕3号"
    assert "某人社发〔2026〕3号" in " ".join(n.source_number for n in service.amendment_notes())
    # The expired notice is left out of answers, unless asked for.
    assert all(h.chunk.doc_id != "过期通知.md" for h in service.search("猕猴桃冷链仓储补贴", 10))
    included = Service(settings.model_copy(update={"include_expired": True}))
    assert included.search("猕猴桃冷链仓储补贴", 3)[0].chunk.doc_id == "过期通知.md"
    # A question about now says today's date and each cited document's status.
    now = service.ask("现在失业保险金最长领多久？", mode="extractive")
    assert "（今天是" in now.answer and ("现行有效" in now.answer or "部分条款已调整" in now.answer)
