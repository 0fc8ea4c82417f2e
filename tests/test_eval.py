"""The eval: the gold set itself, the quick regression guard that `make test` runs, the comparison with the
LangChain-tutorial baseline, reports, and the LLM judge (against the local OpenAI-compatible server)."""

import hashlib
import json
import statistics

import pytest

from assistant.documents.questions import questions_file, read_questions_file
from assistant.evaluation.command import DEVELOPMENT
from assistant.evaluation.metrics import TYPES, GoldItem, check_thresholds, load_gold, select
from assistant.evaluation.reports import summaries_of, write_report
from assistant.evaluation.runs import run
from assistant.evaluation.wording import bigram_overlap, normalise, rewords, shares_run
from assistant.index.ingest import corpus_files
from assistant.index.store import chroma_client, collection_names
from assistant.matching.profile import Profile
from assistant.service.service import Service
from conftest import CORPUS, PLAN, ROOT, app_corpus, run_cli, section_texts
from fake_llm import FakeChatServer, Reply

GOLD = ROOT / "eval" / "gold.jsonl"
DEVELOPMENT_FILES = [path.name for path in DEVELOPMENT]
BLIND_SHA256 = "b8176aa3270d47bab80113a01c59c0ef2d57cf881cf118ba886c29facb17f180"


def test_gold_set_is_valid():
    lines = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = load_gold(GOLD)
    assert len(items) >= 150 and len({i.id for i in items}) == len(items)
    assert len({i.question for i in items}) == len(items)
    on_plan = [i for i in items if PLAN in i.documents or (not i.answerable and i.id.startswith(("p", "g1")))]
    on_laws = [i for i in items if i.answerable and PLAN not in i.documents]
    assert len(on_plan) >= 80 and len(on_laws) >= 50
    # 15 % before the questions that reworded blind ones were taken out (2026-12-03), 14 % since.
    assert sum(not i.answerable for i in items) >= 0.14 * len(items)
    for line, item in zip(lines, items):
        assert set(line) == {"id", "question", "type", "answer", "must_include", "gold"}, item.id
        assert item.type in TYPES, item.id
        assert not item.missing_facts(item.answer), f"{item.id}: the reference answer lacks its own key facts"
        for gold in item.gold:
            assert gold.quote in (CORPUS / gold.file).read_text(encoding="utf-8"), f"{item.id}: {gold.quote}"
        assert bool(item.must_include and item.gold) == item.answerable, item.id


def check_questions(path) -> list:
    """What every question set must satisfy: the schema, verbatim quotes, key facts in the reference answer."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = load_gold(path)
    assert len({i.id for i in items}) == len(items) and len({i.question for i in items}) == len(items)
    for line, item in zip(lines, items):
        assert set(line) == {"id", "question", "type", "answer", "must_include", "gold"}, item.id
        assert item.type in TYPES and not item.missing_facts(item.answer), item.id
        assert all(g.quote in (CORPUS / g.file).read_text(encoding="utf-8") for g in item.gold), item.id
        assert bool(item.must_include and item.gold) == item.answerable, item.id
    return items


@pytest.mark.parametrize(
    "name, answerable_on, unanswerable",
    [
        ("blind.jsonl", {"plan": 60, "laws": 60}, 20),
        ("dev-situations.jsonl", {"plan": 40, "laws": 50}, 20),
        ("dev-fresh.jsonl", {"plan": 35, "laws": 50}, 20),
        # Who is in charge, what the city will do, two questions in one: the plan's measures, as an owner asks.
        ("dev-plan-situations.jsonl", {"plan": 40, "laws": 0}, 0),
    ],
)
def test_situation_sets_are_written_in_an_enterprises_words(name, answerable_on, unanswerable):
    """The blind split (frozen) and the situational development set: written from a situation before the
    clause was read, so they borrow few of its words (the own gold set: 71 % share a 4-character run, 0.22)."""
    items = check_questions(ROOT / "eval" / name)
    answerable = [i for i in items if i.answerable]
    assert sum(PLAN in i.documents for i in answerable) >= answerable_on["plan"]
    assert sum(PLAN not in i.documents for i in answerable) >= answerable_on["laws"]
    assert sum(not i.answerable for i in items) >= unanswerable
    quotes = [[g.quote for g in i.gold] for i in answerable]
    runs = sum(shares_run(i.question, q) for i, q in zip(answerable, quotes)) / len(answerable)
    overlap = statistics.mean(bigram_overlap(i.question, q) for i, q in zip(answerable, quotes))
    assert runs <= 0.40 and overlap <= 0.15


def test_no_question_is_in_two_sets():
    """A development question that is also in the blind split, by id or by text, would be tuned on."""
    sets = [load_gold(ROOT / "eval" / name) for name in (*DEVELOPMENT_FILES, "blind.jsonl")]
    ids = [item.id for items in sets for item in items]
    questions = [item.question for items in sets for item in items]
    assert len(set(ids)) == len(ids) and len(set(questions)) == len(questions)


def test_no_development_question_rewords_a_blind_one():
    """Writers working apart still converge on the same phrases ("找政府背景的担保公司…担保费收多少"): a development
    question that shares a run of nine characters with a blind question, or of eight while asking for the same
    clause, is nearly that question, and whatever is tuned for it (a knob, a thesaurus entry, an attached question)
    would flatter the blind split. Thirty such questions were taken out of the development files on 2026-12-03."""
    blind = load_gold(ROOT / "eval" / "blind.jsonl")
    development = [item for name in DEVELOPMENT_FILES for item in load_gold(ROOT / "eval" / name)]
    twin = next(item for item in blind if item.id == "b-plan-041")  # "官司我们赢了，对方就是拖着不给钱，法院那边催款有什么新招？"
    removed = GoldItem(id="uA-10", question="官司赢了，对方就是拖着不给钱，法院那边有啥办法催得快点？", type="measure")
    assert rewords(removed, twin) and not rewords(development[0], twin)
    eight = GoldItem(id="uC-05", question="我在昭化开个小饭馆，税务登记是小规模，增值税按几个点交？", type="unanswerable")
    assert rewords(eight, GoldItem(id="x", question="我是小规模的个体户，增值税按几个点交？", type="unanswerable"))
    assert not rewords(eight, GoldItem(id="y", question="我是小规模的个体户，增值税按几个点交？", gold=[{"file": PLAN, "quote": "用气"}]))
    assert [item.id for item in development if any(rewords(item, other) for other in blind)] == []


def test_no_attached_question_rewords_a_blind_one():
    """An attached question is a key that leads search to its passage; one that nearly restates a blind question
    hands that question its answer. The rule is the development questions' (`rewords`, the attached question
    asking for its own passage). Twenty-six of the first 3,150 did, although their writers never saw the blind
    split ("一年卖多少钱以内算小规模？" against "一年卖多少钱以内算小规模的？"); they were taken out on 2026-12-03,
    with two of the second round's, and the blind figures fell with them (hit@5 0.892 → 0.877)."""
    blind = load_gold(ROOT / "eval" / "blind.jsonl")
    runs = {normalise(item.question)[i : i + 8] for item in blind for i in range(len(normalise(item.question)) - 7)}
    found, read = [], 0
    for document in corpus_files(CORPUS):
        doc_id = document.relative_to(CORPUS).as_posix()
        texts = section_texts(doc_id)
        for question in read_questions_file(questions_file(CORPUS, doc_id), doc_id):
            read += 1
            text = normalise(question.text)
            if not any(text[i : i + 8] in runs for i in range(len(text) - 7)):
                continue  # shares no run of eight with any blind question: cannot reword one
            attached = GoldItem(id=question.question_id, question=question.text, gold=[{"file": doc_id, "quote": texts[question.section]}])
            found += [(question.text, item.id) for item in blind if rewords(attached, item)]
    assert read >= 6500 and found == []
    twin = next(item for item in blind if item.id == "b-law-031")
    removed = GoldItem(id="q", question="一年卖多少钱以内算小规模？", gold=[{"file": "中华人民共和国增值税法.md", "quote": "小规模纳税人"}])
    assert rewords(removed, twin)


def test_the_blind_split_is_frozen():
    """Knobs are chosen on the development set; the blind split changes only by a deliberate new version."""
    digest = hashlib.sha256((ROOT / "eval" / "blind.jsonl").read_bytes()).hexdigest()
    assert digest == BLIND_SHA256, "eval/blind.jsonl changed: a blind split is written once and never tuned on"


def test_hybrid_search_beats_both_single_modes_on_the_gold_set(kb):
    """On the own gold questions (160 and the 10 currency ones, 2026-12-03): hybrid hit@5 0.993, hit@10 0.993,
    MRR 0.939; bm25 0.986, 0.986, 0.911; dense 0.877, 0.932, 0.754. These questions borrow their clauses' words,
    so BM25 alone (reading the attached questions' words too) nearly always finds them: hybrid is one question
    ahead at hit@5 and hit@10, with dense search exact enough to keep that margin (README "Exact dense search")."""
    summaries = summaries_of(run(Service(kb.settings), load_gold(GOLD), ["hybrid", "bm25", "dense"], progress=False))
    hybrid, bm25, dense = summaries["hybrid"], summaries["bm25"], summaries["dense"]
    assert hybrid["hit@5"] >= 0.94
    assert hybrid["hit@5"] > bm25["hit@5"] > dense["hit@5"]
    assert hybrid["hit@10"] > max(bm25["hit@10"], dense["hit@10"])
    assert hybrid["mrr"] > dense["mrr"] + 0.03


def test_quick_eval_meets_the_committed_thresholds(corpus_settings, tmp_path):
    """The regression guard: fails when a metric drops below eval/thresholds.toml."""
    result = run_cli(["eval", "--quick", "--no-progress", "--reports-dir", str(tmp_path)], corpus_settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "233 questions from eval/gold.jsonl, eval/dev-situations.jsonl, eval/dev-fresh.jsonl and eval/dev-plan-situations.jsonl, "
        "160 from eval/blind.jsonl" in result.stdout
    )
    assert "| hybrid | 233 |" in result.stdout and "| extractive | 233 |" in result.stdout and "| blind/extractive | 160 |" in result.stdout
    assert "Development set beside the blind split" in result.stdout and "| hybrid@laws |" in result.stdout
    assert "Policy matching (ours beside the naive BM25 matcher" in result.stdout
    assert "| matching/naive | 40 |" in result.stdout and "| blind/matching | 34 |" in result.stdout
    assert "All thresholds in eval/thresholds.toml met." in result.stdout
    # Every answerable question is either answered with its key facts or missed for exactly one reason (the shares
    # are rounded to three places: one question of 130 is 0.0077).
    misses = result.stdout.split("Where the answers go wrong")[1].split("\n\n")[0]
    for config in ("extractive", "blind/extractive"):
        [line] = [line for line in misses.splitlines() if line.startswith(f"| {config} |")]
        shares = [float(value) for value in line.strip("| ").split(" | ")[1:]]
        assert len(shares) == 4 and abs(sum(shares) - 1) < 0.003 and all(share > 0 for share in shares), line
    [folder] = list(tmp_path.iterdir())
    assert {"results.jsonl", "report.md", "report.html", "metrics.png", "types.png", "latency.png"} <= {p.name for p in folder.iterdir()}
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 * 233 + 2 * 160 and {r["config"] for r in rows} == {"hybrid", "extractive"}
    assert {r["id"][:2] for r in rows} >= {"p0", "d-", "uA", "b-"}  # own, situational, fresh and blind questions
    answered = next(r for r in rows if r["config"] == "extractive" and r["id"] == "p001")
    assert "2.8‰" in answered["answer"]["answer"] and answered["correct"] is True and answered["retrieved"]
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "## By question type" in report and "## By document" in report and PLAN in report
    assert "## Where the answers go wrong" in report and "(the facts in the passages, not quoted)" in report
    assert "<table>" in (folder / "report.html").read_text(encoding="utf-8")


def test_a_metric_below_its_threshold_fails_the_run(corpus_settings, tmp_path):
    strict = tmp_path / "strict.toml"
    strict.write_text("[minimum.extractive]\nkey_fact_accuracy = 1.01\n[maximum.extractive]\np95_ms = 0.001\n", encoding="utf-8")
    result = run_cli(
        ["eval", "--config", "extractive", "--limit", "5", "--no-blind", "--no-progress", "--no-report", "--check", str(strict)],
        corpus_settings,
    )
    assert result.returncode == 1
    assert "REGRESSION: extractive key_fact_accuracy" in result.stderr and "below the threshold 1.01" in result.stderr
    assert "REGRESSION: extractive p95_ms" in result.stderr and "above the threshold 0.001" in result.stderr


def test_subset_options(corpus_settings):
    result = run_cli(
        [
            "eval",
            "--types",
            "owner,unanswerable",
            "--limit",
            "4",
            "--config",
            "extractive",
            "--no-blind",
            "--no-progress",
            "--no-report",
            "--json",
        ],
        corpus_settings,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["extractive"]["questions"] == 4
    bad = run_cli(["eval", "--types", "gossip", "--no-progress"], corpus_settings)
    assert bad.returncode == 2 and "unknown type" in bad.stderr


def test_check_thresholds_reads_minimum_and_maximum():
    summaries = {"extractive": {"key_fact_accuracy": 0.8, "false_refusal_rate": 0.1}}
    limits = {"minimum": {"extractive": {"key_fact_accuracy": 0.85}}, "maximum": {"extractive": {"false_refusal_rate": 0.05}}}
    assert len(check_thresholds(summaries, limits)) == 2
    assert check_thresholds(summaries, {"minimum": {"extractive": {"key_fact_accuracy": 0.8}}}) == []
    assert check_thresholds({}, {"minimum": {"hybrid": {"mrr": 0.5}}}) == ["hybrid mrr = None, below the threshold 0.5"]


@pytest.fixture(scope="module")
def small_service(tmp_path_factory) -> Service:
    """The plan and two regulations only: the baseline then embeds a few hundred chunks, not the whole corpus."""
    return Service(app_corpus(tmp_path_factory.mktemp("eval-small")))


@pytest.mark.slow  # embeds a second vector collection for the baseline
def test_comparison_with_the_langchain_tutorial_baseline(small_service, tmp_path):
    items = [i for i in load_gold(GOLD) if set(i.documents) <= {PLAN, "(none)"}][:12]
    results = run(small_service, items, ["hybrid", "baseline", "extractive", "baseline-extractive"], progress=False)
    baseline_rows = results["baseline"]
    assert all("#b" in chunk_id for row in baseline_rows for chunk_id in row.retrieved)
    names = collection_names(chroma_client(small_service.settings))
    assert sum(name.startswith("baseline-") for name in names) == 1  # its own collection, beside ours
    summaries = summaries_of(results)
    assert summaries["baseline-extractive"]["verbatim_quotes"] == 1.0  # quotes from its chunks are checked too
    report = write_report(results, tmp_path / "report", "test").read_text(encoding="utf-8")
    assert "## Gain over the LangChain-tutorial baseline" in report and "| hybrid | mrr |" in report
    # Built once: a second run reuses the collection.
    run(small_service, items[:1], ["baseline"], progress=False)
    assert collection_names(chroma_client(small_service.settings)) == names


def test_llm_judge_and_its_agreement_with_the_key_fact_check(small_service):
    server = FakeChatServer().start()
    try:
        settings = small_service.settings.model_copy(update={"llm_base_url": server.base_url, "llm_max_retries": 0})
        service = Service(settings)
        items = select([i for i in load_gold(GOLD) if PLAN in i.documents], limit=3)
        server.script(Reply('{"correct": true, "faithful": true, "reason": "与参考答案一致"}'))
        rows = run(service, items, ["extractive"], with_judge=True, progress=False)["extractive"]
        judge_request = server.requests[0]["messages"]
        assert "correct" in judge_request[0]["content"] and items[0].answer in judge_request[1]["content"]
        assert all(row.judge == {"correct": True, "faithful": True, "reason": "与参考答案一致"} for row in rows)
        summary = summaries_of({"extractive": rows})["extractive"]
        assert summary["judge_correct"] == 1.0
        assert summary["judge_agreement"] == sum(bool(r.correct) for r in rows) / len(rows)
        server.script(Reply("我觉得还行。"))  # not the JSON asked for
        rows = run(service, items[:1], ["extractive"], with_judge=True, progress=False)["extractive"]
        assert "error" in rows[0].judge
    finally:
        server.stop()


def test_matching_set_is_valid(kb):
    from assistant.evaluation.metrics import load_matching

    development, blind = load_matching(ROOT / "eval" / "matching.jsonl"), load_matching(ROOT / "eval" / "matching_blind.jsonl")
    assert len(development) >= 20 and len(blind) >= 30
    cases = development + blind
    assert len({c.id for c in cases}) == len(cases)
    sections = {f"{c.doc_id}#{c.section}" for c in kb.chunks.values()}
    for case in cases:
        Profile.model_validate(case.profile)
        assert 3 <= len(case.must_match) and case.must_not_match, case.id
        assert set(case.must_match + case.must_not_match) <= sections, case.id
        assert not set(case.must_match) & set(case.must_not_match), case.id
