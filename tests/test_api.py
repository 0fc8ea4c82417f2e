"""The REST API on a real server process (`python app.py`) with its own small corpus and index."""

import json
import threading

import httpx
import pytest

from conftest import PLAN, AppServer, app_corpus, run_cli
from fake_llm import Reply, passage_number

# A real server process (or a browser driving one): the slow tier.
pytestmark = pytest.mark.slow

TOKEN = "admin-token-7c1e"
REVIEWER = "reviewer-token-33a1"
REVIEWED = {"X-Reviewer-Token": REVIEWER}


@pytest.fixture(scope="module")
def app(tmp_path_factory, llm):
    settings = app_corpus(tmp_path_factory.mktemp("api"))
    server = AppServer(
        settings,
        POLICY_QA_POLICY_REWRITE="false",  # the tests script the answer request itself
        POLICY_QA_ADMIN_TOKEN=TOKEN,
        POLICY_QA_REVIEWER_TOKEN=f"张解读={REVIEWER}",
        POLICY_QA_LLM_BASE_URL=llm.base_url,
        POLICY_QA_LLM_TIMEOUT="20",
        POLICY_QA_MAX_UPLOAD_MB="0.05",
    ).wait()
    server.settings = settings
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app):
    with httpx.Client(base_url=app.url, timeout=60) as client:
        yield client


def test_healthz_and_openapi_docs(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["documents"] == 3 and body["chunks"] > 50 and body["llm"] is True
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/search", "/api/documents", "/api/feedback", "/healthz"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_ask_returns_the_cli_json(client):
    response = client.post("/api/ask", json={"question": "电子保函费率是多少？", "mode": "extractive"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"question", "answer", "mode", "refused", "citations", "retrieved", "notice", "timings_ms", "verified_answer"}
    assert body["mode"] == "extractive" and "2.8‰" in body["answer"] and body["verified_answer"] is None
    assert body["citations"][0]["doc_id"] == PLAN


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"question": "   "}, "question"),
        ({"question": "电子保函费率？", "mode": "magic"}, "mode"),
        ({}, "question"),
        ({"question": "电子保函费率？", "history": [{"role": "robot", "content": "x"}]}, "role"),
    ],
)
def test_invalid_requests_get_422_json(client, payload, field):
    response = client.post("/api/ask", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert "invalid request" in response.json()["error"] and field in response.json()["error"]


def test_not_json_at_all_is_a_4xx(client):
    response = client.post("/api/ask", content=b"<html>", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "error" in response.json()


def test_stream_sends_tokens_then_the_verified_answer(client, llm):
    llm.script(Reply(lambda r: f"保函费率不高于2.8‰，并逐步降低至2‰[{passage_number(r, '保函费率不高于2.8‰')}]。"))
    events = []
    with client.stream("POST", "/api/ask/stream", json={"question": "电子保函费率是多少？"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds.count("token") > 3 and kinds[-1] == "answer"
    answer = events[-1][1]
    assert answer["mode"] == "llm" and answer["answer"].endswith("[1]。") and "2.8‰" in answer["citations"][0]["quote"]
    assert "".join(d["text"] for k, d in events if k == "token") == answer["answer"]


def test_search_and_documents(client):
    results = client.post("/api/search", json={"question": "失业保险金领取期限", "k": 3}).json()["results"]
    assert len(results) == 3 and results[0]["doc_id"] == "失业保险条例.md"
    documents = client.get("/api/documents").json()
    assert {d["doc_id"] for d in documents} == {PLAN, "公平竞争审查条例.md", "失业保险条例.md"}
    assert next(d for d in documents if d["doc_id"] == PLAN)["doc_number"] == "广营商办〔2025〕1号"


def test_feedback_makes_a_verified_answer(client):
    question = "电子保函的费率上限是多少？"
    answer = client.post("/api/ask", json={"question": question, "mode": "extractive"}).json()
    review = client.post("/api/feedback", json={"answer": answer, "verdict": "正确", "comment": "与原文一致"}, headers=REVIEWED).json()
    assert review["verdict"] == "正确" and review["question"] == question and review["citations"] == answer["citations"]
    assert review["settings"]["top_k"] == 5
    # Asked again with other spacing and punctuation, the verified answer comes with the new one.
    again = client.post("/api/ask", json={"question": " 电子保函的费率上限是多少?", "mode": "extractive"}).json()
    assert again["verified_answer"]["id"] == review["id"] and again["verified_answer"]["answer"] == answer["answer"]
    with client.stream("POST", "/api/ask/stream", json={"question": question, "mode": "extractive"}) as response:
        first_event = next(line for line in response.iter_lines() if line.startswith("event: "))
    assert first_event == "event: verified"
    wrong = client.post(
        "/api/feedback", json={"answer": answer, "verdict": "有误", "correction": "应为不高于2.8‰"}, headers=REVIEWED
    ).json()
    assert [r["id"] for r in client.get("/api/reviews", headers=REVIEWED, params={"verdict": "正确"}).json()] == [review["id"]]
    assert [r["id"] for r in client.get("/api/reviews", headers=REVIEWED, params={"verdict": "有误"}).json()] == [wrong["id"]]
    today = review["created"][:10]
    assert len(client.get("/api/reviews", headers=REVIEWED, params={"since": today, "until": today}).json()) == 2
    assert client.get("/api/reviews", headers=REVIEWED, params={"until": "2000-01-01"}).json() == []
    assert client.get("/api/reviews", headers=REVIEWED, params={"since": "昨天"}).status_code == 422
    # The later 有误 withdraws the verification.
    assert client.post("/api/ask", json={"question": question, "mode": "extractive"}).json()["verified_answer"] is None
    csv_text = client.get("/api/reviews.csv", headers=REVIEWED).text
    assert csv_text.startswith("\ufeffid,created,verdict") and question in csv_text
    bad = client.post("/api/feedback", json={"answer": answer, "verdict": "不错"}, headers=REVIEWED)
    assert bad.status_code == 422


def test_feedback_only_on_answers_this_server_gave(client):
    answer = client.post("/api/ask", json={"question": "失业保险金最长领多久？", "mode": "extractive"}).json()
    forged = {**answer, "answer": "每人补贴100万元。"}  # someone's own text, with the real answer's id
    response = client.post("/api/feedback", json={"answer": forged, "verdict": "正确"}, headers=REVIEWED)
    assert response.status_code == 400 and "not given by this server" in response.json()["error"]
    without_id = {k: v for k, v in answer.items() if k != "answer_id"}
    assert client.post("/api/feedback", json={"answer": without_id, "verdict": "正确"}, headers=REVIEWED).status_code == 422
    assert client.post("/api/ask", json={"question": "失业保险金最长领多久？", "mode": "extractive"}).json()["verified_answer"] is None


def test_upload_needs_the_admin_token(client):
    files = [("files", ("通知.md", "# 通知\n\n一、内容。".encode(), "text/markdown"))]
    assert client.post("/api/documents", files=files).status_code == 403
    wrong = client.post("/api/documents", files=files, headers={"X-Admin-Token": "guess"})
    assert wrong.status_code == 403 and "token" in wrong.json()["error"]


def test_upload_ingests_good_files_and_reports_bad_ones(client, app):
    good = "# 广元市关于支持猕猴桃加工企业的通知\n\n一、对新建猕猴桃冷链仓储的加工企业，按设备投资额的10%给予补助。\n"
    files = [
        ("files", ("猕猴桃通知.md", good.encode(), "text/markdown")),
        ("files", ("损坏.pdf", b"%PDF-1.7 this is not really a pdf", "application/pdf")),
        ("files", ("程序.exe", b"MZ...", "application/octet-stream")),
        ("files", ("太大.md", ("一、内容。" * 20000).encode(), "text/markdown")),
    ]
    response = client.post("/api/documents", files=files, headers={"X-Admin-Token": TOKEN})
    assert response.status_code == 200, response.text
    by_file = {f["file"]: f for f in response.json()["files"]}
    assert by_file["猕猴桃通知.md"]["status"] == "added" and by_file["猕猴桃通知.md"]["chunks"] >= 1
    assert by_file["损坏.pdf"]["status"] == "failed" and "PDF" in by_file["损坏.pdf"]["message"]
    assert by_file["程序.exe"]["status"] == "rejected" and "unsupported" in by_file["程序.exe"]["message"]
    assert by_file["太大.md"]["status"] == "rejected" and "MB" in by_file["太大.md"]["message"]
    corpus = sorted(p.name for p in app.settings.corpus_dir.iterdir())
    assert "猕猴桃通知.md" in corpus and "损坏.pdf" not in corpus and "程序.exe" not in corpus
    assert len(client.get("/api/documents").json()) == 4
    answer = client.post("/api/ask", json={"question": "猕猴桃冷链仓储有补助吗？", "mode": "extractive"}).json()
    assert "10%" in answer["answer"] and answer["citations"][0]["doc_id"] == "猕猴桃通知.md"
    # And it can be taken out again.
    deleted = client.delete("/api/documents/猕猴桃通知.md", headers={"X-Admin-Token": TOKEN})
    assert deleted.status_code == 200 and len(client.get("/api/documents").json()) == 3
    assert client.delete("/api/documents/nothing.md", headers={"X-Admin-Token": TOKEN}).status_code == 400


def test_one_file_name_twice_keeps_the_original(client, app):
    original = (app.settings.corpus_dir / "失业保险条例.md").read_bytes()
    files = [("files", ("失业保险条例.md", b"   ", "text/markdown")), ("files", ("sub/失业保险条例.md", b"x", "text/markdown"))]
    response = client.post("/api/documents", files=files, headers={"X-Admin-Token": TOKEN}).json()
    assert sorted(f["status"] for f in response["files"]) == ["failed", "rejected"]  # blank text; a name used twice
    assert (app.settings.corpus_dir / "失业保险条例.md").read_bytes() == original


def test_oversized_request_is_refused_before_it_is_read(client):
    body = b"0" * 2_500_000  # over 20 files of the 0.05 MB limit
    response = client.post("/api/documents", files=[("files", ("大.md", body, "text/markdown"))], headers={"X-Admin-Token": TOKEN})
    assert response.status_code == 413 and "MB" in response.json()["error"]


def test_the_app_follows_an_ingest_run_from_the_command_line(client, app):
    from assistant.index.ingest import ingest

    (app.settings.corpus_dir / "命令行通知.md").write_text(
        "# 命令行添加的通知\n\n一、对入驻园区的企业，提供免费法律咨询服务。\n", encoding="utf-8"
    )
    assert ingest(app.settings).build_id
    titles = [d["title"] for d in client.get("/api/documents").json()]
    assert "命令行添加的通知" in titles
    answer = client.post("/api/ask", json={"question": "园区企业有免费法律咨询吗？", "mode": "extractive"}).json()
    assert "免费法律咨询服务" in answer["answer"]
    # Dense search too: on embedded Chroma the new build's vectors are in a folder of its own, which the app opens.
    results = client.post("/api/search", json={"question": "园区企业免费法律咨询", "mode": "dense"}).json()["results"]
    assert any("免费法律咨询服务" in json.dumps(hit, ensure_ascii=False) for hit in results)


def test_a_slow_answer_does_not_block_other_requests(client, llm):
    llm.script(Reply(lambda r: "回答[1]。", delay=6.0))
    finished: list[str] = []

    def slow_ask():
        client.post("/api/ask", json={"question": "电子保函费率是多少？"})
        finished.append("ask")

    thread = threading.Thread(target=slow_ask)
    thread.start()
    while not llm.requests:  # the slow request has reached the model
        thread.join(0.05)
    assert client.get("/healthz").status_code == 200
    assert client.post("/api/search", json={"question": "失业保险"}).status_code == 200
    finished.append("search")
    thread.join()
    assert finished == ["search", "ask"]


def test_match_ranks_items_and_counts_them_all(client):
    profile = {
        "name": "苍溪红心猕猴桃加工厂",
        "region": "苍溪县",
        "industry": "猕猴桃加工",
        "employees": 15,
        "annual_revenue_wan": 800,
        "ownership": "private",
        "needs": ["想贷款扩产", "要接电"],
    }
    body = client.post("/api/match", json={"profile": profile, "limit": 3}).json()
    assert body["total"] > 3 and len(body["items"]) == 3
    assert any(
        m["section"].endswith("（十六）降低用电成本")
        for m in client.post("/api/match", json={"profile": profile, "limit": 10}).json()["items"]
    )
    assert body["items"][0]["reasons"] and body["items"][0]["departments"]["lead"]
    bad = client.post("/api/match", json={"profile": {"employees": -3}})
    assert bad.status_code == 422 and "employees" in bad.json()["error"]


def test_the_command_line_and_the_api_give_the_same_answer_verified_first(client, app):
    """One service behind every face: `policy-qa ask` shows the verdict an interpreter recorded through the API,
    before the answer it generates, and that answer is the API's."""
    question = "失业保险金领取期限最长是多久？"
    answer = client.post("/api/ask", json={"question": question, "mode": "extractive"}).json()
    review = client.post("/api/feedback", json={"answer": answer, "verdict": "正确"}, headers=REVIEWED).json()
    cli = run_cli(["ask", question, "--json", "--mode", "extractive"], app.settings)
    assert cli.returncode == 0, cli.stderr
    out = json.loads(cli.stdout)
    assert out["verified_answer"]["id"] == review["id"]
    assert (out["answer"], out["citations"], out["answer_id"]) == (answer["answer"], answer["citations"], answer["answer_id"])
    text = run_cli(["ask", question, "--mode", "extractive"], app.settings).stdout
    generated = text.index("本次检索生成的回答")
    assert text.index("经政策解读员核对的回答") < generated and answer["answer"] in text[generated:]


def test_a_which_policies_question_is_matched_by_every_face(client, app, tmp_path):
    question = "我们是一家做猕猴桃加工的小微企业，在苍溪县，想贷款扩大生产，有哪些政策可以用？"
    body = client.post("/api/ask", json={"question": question}).json()
    assert body["intent"] == "matching" and body["matching"]["profile"]["industry"] == "猕猴桃加工"
    assert body["answer"].startswith("我理解的企业情况") and body["matching"]["total"] >= len(body["matching"]["items"]) > 0
    cli = json.loads(run_cli(["ask", question, "--json"], app.settings).stdout)
    assert (cli["intent"], cli["answer"]) == ("matching", body["answer"])
    # The profile the chat read, given to /api/match and to `policy-qa match`, brings the same items in the same order.
    profile = body["matching"]["profile"]
    shown = [m["item_id"] for m in body["matching"]["items"]]
    matched = client.post("/api/match", json={"profile": profile, "limit": len(shown)}).json()
    assert [m["item_id"] for m in matched["items"]] == shown and matched["total"] == body["matching"]["total"]
    profile_file = tmp_path / "profile.json"
    profile_file.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
    listed = json.loads(run_cli(["match", "--profile", str(profile_file), "--json", "-n", str(len(shown))], app.settings).stdout)
    assert [m["item_id"] for m in listed["items"]] == shown
    with client.stream("POST", "/api/ask/stream", json={"question": question}) as response:
        events = [line for line in response.iter_lines() if line.startswith("event: ")]
    assert events == ["event: token", "event: answer"]


def test_only_interpreters_verify_answers_and_read_reviews(client):
    answer = client.post("/api/ask", json={"question": "电子保函费率是多少？", "mode": "extractive"}).json()
    anonymous = client.post("/api/feedback", json={"answer": answer, "verdict": "正确"})
    assert anonymous.status_code == 403 and "reviewer token" in anonymous.json()["error"]
    wrong = client.post("/api/feedback", json={"answer": answer, "verdict": "正确"}, headers={"X-Reviewer-Token": TOKEN})
    assert wrong.status_code == 403  # the admin token is not a reviewer token
    assert client.get("/api/reviews").status_code == 403 and client.get("/api/reviews.csv").status_code == 403


def test_the_apps_upload_route_needs_the_admin_cookie(app):
    files = {"files": ("政策.md", "第一条 企业可获得补贴。".encode(), "text/markdown")}
    with httpx.Client(base_url=app.url, timeout=60) as anonymous:
        refused = anonymous.post("/gradio_api/upload", files=files)
        assert refused.status_code == 403 and "文档库" in refused.json()["error"]
        assert anonymous.post("/api/admin/session", json={"token": "guess"}).status_code == 403
    with httpx.Client(base_url=app.url, timeout=60) as admin:
        assert admin.post("/api/admin/session", json={"token": TOKEN}).status_code == 200
        assert admin.post("/gradio_api/upload", files=files).status_code == 200
