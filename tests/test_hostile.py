"""Hostile input, one test per defect: names and special files in the corpus, files built to cause unbounded
work at ingest, duplicates, and malformed, oversized or abandoned requests to a real server. Each case is
bounded, refused with a one-line reason (a 4xx for a request, never a 5xx), and loses no document."""

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from assistant.documents.chunking import chunk_document
from assistant.documents.loaders import LoadError, load_file
from assistant.index.ingest import ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.lexical import LexicalIndex, Tokenizer
from assistant.retrieval.hybrid import search
from assistant.service.library import Upload, check_upload
from conftest import CORPUS, AppServer, app_corpus, make_settings
from fake_llm import Reply

SMALL_LAW = "失业保险条例.md"
ADMIN = "管理-口令-α"  # non-ASCII tokens work: they are compared as UTF-8 bytes
REVIEWER = "解读-口令-β"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A corpus of one real regulation and the hostile files beside it, ingested once."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / SMALL_LAW, corpus / SMALL_LAW)
    shutil.copy(CORPUS / SMALL_LAW, corpus / "失业保险条例（副本）.md")  # the same content under another name
    (corpus / "换行\n伪造.md").write_text("# 伪造\n\n第一条 企业可获得补贴。\n", encoding="utf-8")
    (corpus / ".隐藏.md").write_text("第一条 隐藏的文件。\n", encoding="utf-8")
    outside = root / "outside.md"
    outside.write_text("第一条 语料库以外的文件。\n", encoding="utf-8")
    (corpus / "外部链接.md").symlink_to(outside)
    os.mkfifo(corpus / "管道.md")
    (corpus / "无标点.txt").write_text("企业补贴" * 5_000, encoding="utf-8")  # 20,000 characters, no sentence mark
    (corpus / "深嵌套.html").write_text("<html><body>" + "<div>" * 20_000 + "正文" + "</div>" * 20_000, encoding="utf-8")
    aliases = 'a: &a ["补贴","补贴","补贴","补贴","补贴","补贴","补贴","补贴","补贴"]\n'
    aliases += "".join(f"{x}: &{x} [{','.join(['*' + prev] * 9)}]\n" for prev, x in zip("abcdefgh", "bcdefghi"))
    (corpus / "别名炸弹.md").write_text(f"---\n{aliases}title: *i\n---\n第一条 正文。\n", encoding="utf-8")
    (corpus / "过大.md").write_text("第一条 企业可获得补贴。\n" * 20_000, encoding="utf-8")  # about 0.5 MB
    settings = make_settings(root / "index", corpus, max_file_mb=0.3)
    started = time.monotonic()
    report = ingest(settings)
    return settings, {f.file: f for f in report.files}, time.monotonic() - started


def test_the_batch_finishes_in_bounded_time_and_keeps_the_real_document(hostile):
    settings, files, seconds = hostile
    assert seconds < 120
    assert files[SMALL_LAW].status == "added"
    hits = search(KnowledgeBase(settings), "失业保险金最长领多久", 3)
    assert hits[0].chunk.doc_id == SMALL_LAW


def test_a_newline_in_a_file_name_is_refused_with_a_reason(hostile):
    _, files, _ = hostile
    line = files["换行\n伪造.md"]
    assert line.status == "skipped" and "control character" in line.message


def test_hidden_files_links_outside_and_fifos_each_get_a_report_line(hostile):
    _, files, _ = hostile
    assert files[".隐藏.md"].status == "skipped" and "hidden" in files[".隐藏.md"].message
    assert files["外部链接.md"].status == "skipped" and "outside the corpus" in files["外部链接.md"].message
    assert files["管道.md"].status == "skipped" and "not a regular file" in files["管道.md"].message


def test_a_duplicate_is_reported_and_indexed_once(hostile):
    settings, files, _ = hostile
    assert files["失业保险条例（副本）.md"].status == "duplicate" and SMALL_LAW in files["失业保险条例（副本）.md"].message
    assert {d.doc_id for d in KnowledgeBase(settings).documents} == {SMALL_LAW, "无标点.txt"}


def test_text_without_punctuation_never_makes_a_chunk_over_the_configured_size(hostile):
    settings, files, _ = hostile
    assert files["无标点.txt"].status == "added" and files["无标点.txt"].chunks >= 40
    assert max(len(c.text) for c in KnowledgeBase(settings).chunks.values()) <= settings.chunk_size


def test_deep_html_an_alias_bomb_and_an_oversized_file_fail_with_reasons(hostile):
    _, files, _ = hostile
    assert files["深嵌套.html"].status == "failed" and "levels deep" in files["深嵌套.html"].message
    assert files["别名炸弹.md"].status == "failed" and "aliases" in files["别名炸弹.md"].message
    assert files["过大.md"].status == "failed" and "POLICY_QA_MAX_FILE_MB" in files["过大.md"].message


def test_a_long_header_field_is_cut(tmp_path):
    path = tmp_path / "长标题.md"
    path.write_text("---\ntitle: " + "很长的标题" * 1000 + "\n---\n第一条 正文。\n", encoding="utf-8")
    assert len(load_file(path).title) == 500
    path.write_text("---\n" + "# 注释\n" * 5000 + "title: 标题\n---\n第一条 正文。\n", encoding="utf-8")
    with pytest.raises(LoadError, match="header is over"):
        load_file(path)


def test_one_long_run_is_cut_at_a_comma_when_there_is_one(tmp_path):
    path = tmp_path / "逗号.txt"
    path.write_text("，".join(["企业可以申请补贴"] * 400), encoding="utf-8")
    chunks = chunk_document(load_file(path), "逗号.txt", 500)
    assert all(len(c.text) <= 500 for c in chunks)
    assert all(c.text.endswith(("，", "贴")) for c in chunks)


def test_bm25_ids_survive_any_character(tmp_path):
    ids = ["规定.md#0000", "换行\n伪造.md#0000", "行\u2028分隔.md#0000"]
    LexicalIndex.build(ids, ["失业保险金", "企业补贴", "登记注册"], Tokenizer()).save(tmp_path)
    assert LexicalIndex.load(tmp_path, Tokenizer()).ids == ids


def test_an_upload_named_with_a_control_character_is_refused(tmp_path):
    path = tmp_path / "upload"
    path.write_text("第一条 正文。", encoding="utf-8")
    problem = check_upload(Upload(name="通知\r\nadded 伪造.md", path=path), make_settings(tmp_path / "index"))
    assert "control character" in problem


# --- malformed and oversized requests, on a real server -------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, llm):
    app = AppServer(
        app_corpus(tmp_path_factory.mktemp("hostile-api")),
        POLICY_QA_LLM_BASE_URL=llm.base_url,
        POLICY_QA_POLICY_REWRITE="false",
        POLICY_QA_WRITE_QUESTIONS="false",
        POLICY_QA_QUEUE_LIMIT="2",
        POLICY_QA_ADMIN_TOKEN=ADMIN,
        POLICY_QA_REVIEWER_TOKEN=f"王解读={REVIEWER}",
    ).wait()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def post_raw(client: httpx.Client, path: str, body: str) -> httpx.Response:
    return client.post(path, content=body.encode("utf-8"), headers={"Content-Type": "application/json"})


@pytest.mark.slow
def test_every_text_field_is_bounded(client):
    long_industry = client.post("/api/match", json={"profile": {"industry": "猕猴桃" * 33_334}})
    assert long_industry.status_code == 422 and "profile.industry" in long_industry.json()["error"]
    too_many_needs = client.post("/api/match", json={"profile": {"needs": ["贷款"] * 21}})
    assert too_many_needs.status_code == 422 and "profile.needs" in too_many_needs.json()["error"]
    many_ids = client.post("/api/search", json={"question": "电子保函", "doc_ids": ["a.md"] * 10_000})
    assert many_ids.status_code == 422 and "doc_ids" in many_ids.json()["error"]
    long_turn = client.post("/api/ask", json={"question": "那用水呢？", "history": [{"role": "user", "content": "问" * 20_001}]})
    assert long_turn.status_code == 422 and "history" in long_turn.json()["error"]
    many_turns = client.post("/api/ask", json={"question": "那用水呢？", "history": [{"role": "user", "content": "问"}] * 41})
    assert many_turns.status_code == 422
    huge = post_raw(client, "/api/ask", '{"question": "' + "问" * 400_000 + '"}')
    assert huge.status_code == 413


@pytest.mark.slow
def test_nan_infinity_and_lone_surrogates_are_a_422(client):
    nan = post_raw(client, "/api/search", '{"question": "电子保函", "k": NaN}')
    assert nan.status_code == 422 and "NaN is not a JSON number" in nan.json()["error"]
    infinity = post_raw(client, "/api/match", '{"profile": {"employees": Infinity}}')
    assert infinity.status_code == 422 and "Infinity" in infinity.json()["error"]
    surrogate = post_raw(client, "/api/ask", '{"question": "电子保函\\ud800费率"}')
    assert surrogate.status_code == 422 and "surrogate" in surrogate.json()["error"]
    assert client.get("/healthz").status_code == 200  # the server is still there, and so is the connection


@pytest.mark.slow
def test_deep_json_and_a_broken_cookie_are_4xx(client):
    deep = post_raw(client, "/api/search", '{"question": ' + "[" * 50_000 + "]" * 50_000 + "}")
    assert deep.status_code == 422 and "nested too deeply" in deep.json()["error"]
    files = {"files": ("政策.md", "第一条 企业可获得补贴。".encode(), "text/markdown")}
    broken = client.post("/gradio_api/upload", files=files, headers={"Cookie": "a=1; $foo=1"})
    assert broken.status_code == 403


@pytest.mark.slow
def test_a_full_queue_answers_429_with_retry_after(client, server, llm):
    llm.script(Reply("保函费率不高于2.8‰。", delay=4))
    with ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(client.post, "/api/ask", json={"question": "电子保函费率是多少？", "mode": "llm"}) for _ in range(2)]
        time.sleep(1.5)  # both are now with the model
        turned_away = httpx.post(f"{server.url}/api/ask", json={"question": "电子保函费率是多少？"}, timeout=30)
        health = httpx.get(f"{server.url}/healthz", timeout=30)
        assert [f.result().status_code for f in slow] == [200, 200]
    assert turned_away.status_code == 429 and turned_away.headers["retry-after"] == "2"
    assert health.status_code == 200  # answered beside the full queue


@pytest.mark.slow
def test_answering_stops_when_the_client_leaves(server, llm):
    llm.script(Reply("保函费率不高于2.8‰，" * 40, pace=0.1))  # about 4 s of tokens
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/api/ask", json={"question": "电子保函费率是多少？", "mode": "llm"}, timeout=1.5)
    deadline = time.monotonic() + 20
    while not llm.completed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert llm.completed == [False]  # the server closed the model's stream instead of reading it to the end


def test_a_file_that_keeps_the_parser_busy_is_stopped_and_the_rest_is_indexed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / SMALL_LAW, corpus / SMALL_LAW)
    block = "<div><p>第一条 企业补贴。</p>" * 300 + "</div>" * 300  # within the nesting limit, but slow to parse
    (corpus / "慢.html").write_text("<html><body>" + block * 130 + "</body></html>", encoding="utf-8")
    settings = make_settings(tmp_path / "index", corpus, max_file_seconds=2)
    started = time.monotonic()
    files = {f.file: f for f in ingest(settings).files}
    assert time.monotonic() - started < 60
    assert files["慢.html"].status == "failed" and "POLICY_QA_MAX_FILE_SECONDS" in files["慢.html"].message
    assert files[SMALL_LAW].status == "added"


@pytest.mark.slow
def test_only_an_interpreter_can_verify_an_answer(client):
    answer = client.post("/api/ask", json={"question": "电子保函费率是多少？", "mode": "extractive"}).json()
    for headers in ({}, {"X-Reviewer-Token": "guess"}, {"X-Reviewer-Token": ADMIN.encode()}):
        assert client.post("/api/feedback", json={"answer": answer, "verdict": "正确"}, headers=headers).status_code == 403
        assert client.get("/api/reviews", headers=headers).status_code == 403
    assert "经政策解读员核对" not in client.post("/api/ask", json={"question": "电子保函费率是多少？"}).json()["answer"]
    review = client.post("/api/feedback", json={"answer": answer, "verdict": "正确"}, headers={"X-Reviewer-Token": REVIEWER.encode()})
    assert review.status_code == 200 and review.json()["reviewer"] == "王解读"


@pytest.mark.slow
def test_gradio_upload_route_and_a_non_ascii_admin_token(client):
    files = {"files": ("政策.md", "第一条 企业可获得补贴。".encode(), "text/markdown")}
    assert client.post("/gradio_api/upload", files=files).status_code == 403
    upload = client.post("/api/documents", files=files, headers={"X-Admin-Token": ADMIN.encode()})
    assert upload.status_code == 200 and upload.json()["files"][0]["status"] == "added"


@pytest.mark.slow
def test_a_stream_stops_when_the_client_leaves(server, llm):
    llm.script(Reply("保函费率不高于2.8‰，" * 40, pace=0.1))  # about 11 s of tokens
    with httpx.stream(
        "POST", f"{server.url}/api/ask/stream", json={"question": "电子保函费率是多少？", "mode": "llm"}, timeout=30
    ) as response:
        for line in response.iter_lines():
            if line.startswith("event: token"):
                break  # the first token has come: leave
    deadline = time.monotonic() + 20
    while not llm.completed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert llm.completed == [False]
