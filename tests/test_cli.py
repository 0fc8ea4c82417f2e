"""The `policy-qa` command as users run it: a real process, real index, JSON and text output."""

import json

import pytest

from conftest import CORPUS, PLAN, make_settings, run_cli


def test_search_json(corpus_settings):
    result = run_cli(["search", "电子保函费率是多少？", "-k", "3", "--json"], corpus_settings)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["question"] == "电子保函费率是多少？"
    assert [r["rank"] for r in out["results"]] == [1, 2, 3]
    first = out["results"][0]
    assert set(first) >= {"rank", "chunk_id", "doc_id", "doc_title", "doc_number", "section", "page", "text", "score"}
    assert first["doc_id"] == PLAN and "保函费率不高于2.8‰" in first["text"]
    assert first["doc_number"] == "广营商办〔2025〕1号"


def test_search_table_and_modes(corpus_settings):
    result = run_cli(["search", "失业保险金领取期限最长多久", "--mode", "bm25", "-k", "2"], corpus_settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Q: 失业保险金领取期限最长多久")
    assert " 1. [" in result.stdout and " 2. [" in result.stdout and " 3. [" not in result.stdout
    assert "失业保险条例" in result.stdout


def test_search_batch_echoes_ids(corpus_settings, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a1", "question": "用气报装最快几天办完"}\n\n{"id": 7, "question": "个体工商户转企业有什么支持"}\n', encoding="utf-8"
    )
    result = run_cli(["search", "--input", str(questions), "-k", "2"], corpus_settings)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["a1", 7]
    assert all(len(line["results"]) == 2 for line in lines)
    assert any("2个工作日" in r["text"] for r in lines[0]["results"])


def test_a_bad_line_of_a_batch_says_which_and_does_not_stop_the_others(corpus_settings, tmp_path):
    questions = tmp_path / "bad.jsonl"
    questions.write_text(
        '{"question": "好的"}\n{not json}\n{"id": 3, "question": 7}\n{"question": "用气报装最快几天办完"}\n', encoding="utf-8"
    )
    result = run_cli(["search", "--input", str(questions), "-k", "2"], corpus_settings)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    first, second, third, fourth = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(first["results"]) == 2 and len(fourth["results"]) == 2
    assert second == {"line": 2, "id": None, "error": f"{questions}:2: not valid JSON (Expecting property name enclosed in double quotes)"}
    assert third["line"] == 3 and third["id"] == 3 and '"question" must be a string' in third["error"]
    assert f"2 line(s) of {questions} could not be read (line 2, 3)" in result.stderr
    # Saved by Windows Notepad: a byte-order mark is read past; a file in GBK is refused with what to do.
    questions.write_text('\ufeff{"id": "bom", "question": "用气报装最快几天办完"}\n', encoding="utf-8")
    marked = run_cli(["search", "--input", str(questions), "-k", "1"], corpus_settings)
    assert marked.returncode == 0 and json.loads(marked.stdout)["id"] == "bom"
    questions.write_bytes('{"question": "用气报装最快几天办完"}\n'.encode("gbk"))
    gbk = run_cli(["search", "--input", str(questions)], corpus_settings)
    assert gbk.returncode == 1 and f"{questions}:1: not UTF-8 text; save the file as UTF-8" in gbk.stderr


def test_docs_lists_title_number_date_authority_chunks(corpus_settings):
    result = run_cli(["docs"], corpus_settings)
    assert result.returncode == 0, result.stderr
    assert "广元市2025年对标改革打造最优营商环境五大专项行动方案" in result.stdout
    assert "文号: 广营商办〔2025〕1号  日期: 2025-03-24" in result.stdout
    assert "22 documents" in result.stdout
    docs = json.loads(run_cli(["docs", "--json"], corpus_settings).stdout)
    plan = next(d for d in docs if d["doc_id"] == PLAN)
    assert plan["authority"].startswith("广元市推进政府职能转变和优化营商环境工作领导小组办公室") and plan["chunks"] > 40


@pytest.mark.slow  # three ingests in child processes
def test_ingest_prints_a_summary_and_exit_status(tmp_path, small_corpus):
    (small_corpus / "坏文件.pdf").write_bytes(b"not a pdf at all")
    settings = make_settings(tmp_path / "index", small_corpus)
    result = run_cli(["ingest", "--no-progress"], settings)
    assert result.returncode == 0, result.stderr
    assert "failed    坏文件.pdf  — 坏文件.pdf: corrupt or unreadable PDF" in result.stdout
    assert f"added     {PLAN}" in result.stdout
    assert "Indexed" in result.stdout and "(3 added, 1 failed)" in result.stdout

    again = run_cli(["ingest", "--no-progress"], settings)
    assert again.returncode == 0 and "Index is up to date (3 unchanged, 1 failed)." in again.stdout

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "空.txt").write_bytes(b"")
    (broken / "x.xlsx").write_bytes(b"PK")
    nothing = run_cli(["ingest", "--no-progress"], make_settings(tmp_path / "index2", broken))
    assert nothing.returncode == 1
    assert "failed    空.txt  — 空.txt: the file is empty" in nothing.stdout
    assert "Nothing could be ingested" in nothing.stderr


def test_search_without_index_is_a_clear_error(tmp_path):
    result = run_cli(["search", "你好"], make_settings(tmp_path / "none", CORPUS))
    assert result.returncode == 1
    assert "no index in" in result.stderr and "policy-qa ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_json_extractive(corpus_settings):
    result = run_cli(["ask", "我们是小微企业，用电接入要自己出钱吗？", "--json"], corpus_settings)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"question", "answer", "mode", "refused", "citations", "retrieved", "notice", "timings_ms"}
    assert out["mode"] == "extractive" and out["refused"] is False and out["notice"] is None
    assert "160千瓦及以下" in out["answer"]
    citation = out["citations"][0]
    assert set(citation) >= {"n", "chunk_id", "doc_id", "doc_title", "doc_number", "section", "page", "quote"}
    assert f"[{citation['n']}]" in out["answer"] and citation["quote"] in (CORPUS / citation["doc_id"]).read_text(encoding="utf-8")
    assert set(out["retrieved"][0]) >= {"chunk_id", "doc_title", "section", "text", "score"}


def test_ask_batch_echoes_ids_and_reports_bad_lines(corpus_settings, tmp_path):
    questions = tmp_path / "questions.jsonl"
    lines = [
        {"id": "a", "question": "电子保函费率是多少？"},
        {"id": "b", "question": "  "},
        {"id": 3, "question": "失业保险金最长领多久？"},
    ]
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in lines) + "\n", encoding="utf-8")
    result = run_cli(["ask", "--input", str(questions)], corpus_settings)
    assert result.returncode == 0, result.stderr
    first, second, third = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["id"] == "a" and "2.8‰" in first["answer"]
    assert second["id"] == "b" and "empty" in second["error"]
    assert third["id"] == 3 and "失业保险条例" in {c["doc_title"] for c in third["citations"]}
    # A line that is not a question object is reported in its place, and the questions after it are answered.
    questions.write_text('{"id": "x", "text": "用电"}\n{"id": "y", "question": "电子保函费率是多少？"}\n', encoding="utf-8")
    broken = run_cli(["ask", "--input", str(questions)], corpus_settings)
    assert broken.returncode == 1 and "could not answer" not in broken.stderr
    bad, good = [json.loads(line) for line in broken.stdout.splitlines()]
    assert bad == {"line": 1, "id": "x", "error": f'{questions}:1: expected an object with "question"'}
    assert good["id"] == "y" and "2.8‰" in good["answer"]


def test_ask_streams_llm_answer_with_sources(corpus_settings):
    from fake_llm import FakeChatServer, Reply, passage_number

    server = FakeChatServer().start()
    try:
        server.script(Reply(lambda r: f"保函费率不高于2.8‰[{passage_number(r, '保函费率不高于2.8‰')}]，并逐步降低至2‰[99]。"))
        result = run_cli(
            ["ask", "电子保函费率是多少？"],
            corpus_settings,
            POLICY_QA_LLM_BASE_URL=server.base_url,
            DEEPSEEK_API_KEY="sk-cli-secret",
            POLICY_QA_POLICY_REWRITE="false",
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert server.requests and server.requests[0]["stream"] is True
    # The streamed text first, then the checked version without the invented [99], then the sources.
    assert out.index("[99]") < out.index("核对引用后的回答") < out.index("来源：")
    assert "已删除不存在的引用 [99]" in out and "《广元市2025年对标改革打造最优营商环境五大专项行动方案》" in out
    assert "sk-cli-secret" not in out + result.stderr


def test_ask_llm_mode_without_model_explains(corpus_settings):
    result = run_cli(["ask", "电子保函费率是多少？", "--mode", "llm"], corpus_settings)
    assert result.returncode == 1 and "POLICY_QA_LLM_API_KEY" in result.stderr and "Traceback" not in result.stderr


def test_chat_understands_follow_ups(corpus_settings):
    result = run_cli(["chat"], corpus_settings, stdin="电子保函的费率是多少？\n以后还会降吗？\n退出\n")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("问：")[1:3]
    assert "2.8‰" in first and "来源：" in first
    assert "逐步降低至2‰" in second
