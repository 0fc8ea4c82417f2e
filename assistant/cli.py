"""The `policy-qa` command line: ingest documents, list them, search them, ask questions, chat, evaluate."""

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from assistant.answer import MODES as ANSWER_MODES
from assistant.answer import Answer, Assistant, AssistantError, Message
from assistant.embeddings import EmbeddingError
from assistant.eval_runs import CONFIGS
from assistant.index import KnowledgeBase, KnowledgeBaseError, ingest
from assistant.retrieval import MODES, SearchFilters, SearchHit, search
from assistant.settings import Settings


def open_kb(settings: Settings) -> KnowledgeBase:
    try:
        return KnowledgeBase(settings)
    except (KnowledgeBaseError, EmbeddingError) as error:
        raise click.ClickException(str(error)) from None


@click.group()
@click.version_option(package_name="policy-qa")
def cli() -> None:
    """广圆享 policy assistant: a searchable knowledge base of Chinese policy documents."""


@cli.command("ingest")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Folder of documents (default: corpus/).")
@click.option("--rebuild", is_flag=True, help="Re-read every document instead of only new and changed ones.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar while embedding.")
def ingest_command(corpus_dir: Path | None, rebuild: bool, progress: bool) -> None:
    """Index new and changed documents of the corpus and drop deleted ones."""
    settings = Settings(**({"corpus_dir": corpus_dir} if corpus_dir else {}))
    try:
        report = ingest(settings, rebuild=rebuild, progress=progress)
    except (KnowledgeBaseError, EmbeddingError) as error:
        raise click.ClickException(str(error)) from None
    for f in report.files:
        line = f"{f.status:<9} {f.file}"
        if f.status != "failed":
            line += f"  ({f.chunks} chunks)"
        click.echo(line + (f"  — {f.message}" if f.message else ""))
    counts = {s: sum(1 for f in report.files if f.status == s) for s in ("added", "changed", "unchanged", "removed", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if report.build_id:
        click.echo(
            f"Indexed {report.chunks} chunks from {len(report.files) - counts['removed'] - counts['failed']} documents "
            f"({summary}); embedded {report.embedded}, reused {report.cached} cached vectors; {report.seconds:.1f}s."
        )
    elif report.ok:
        click.echo(f"Index is up to date ({summary}).")
    if not report.ok:
        click.echo(f"Nothing could be ingested ({summary or 'no files'}); the previous index is unchanged.", err=True)
        sys.exit(1)


@cli.command("docs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def docs_command(as_json: bool) -> None:
    """List the indexed documents: title, 文号, date, issuing authority, chunk count."""
    kb = open_kb(Settings())
    if as_json:
        click.echo(json.dumps([d.model_dump(exclude={"sha256"}) for d in kb.documents], ensure_ascii=False, indent=2))
        return
    for d in kb.documents:
        click.echo(f"{d.title}\n    文号: {d.doc_number or '—'}  日期: {d.date or '—'}  机关: {d.authority or '—'}  chunks: {d.chunks}")
    click.echo(f"{len(kb.documents)} documents, {sum(d.chunks for d in kb.documents)} chunks.")


def print_hits(question: str, hits: list[SearchHit]) -> None:
    click.echo(f"Q: {question}")
    if not hits:
        click.echo("   (no matching passages)")
    for hit in hits:
        c = hit.chunk
        where = " · ".join(part for part in (c.doc_number, c.section, f"p.{c.page}" if c.page else "") if part)
        text = " ".join(c.text.split())
        click.echo(f"{hit.rank:>2}. [{hit.score:.4f}] {c.doc_title}" + (f"  ({where})" if where else ""))
        click.echo(f"    {text[:160]}{'…' if len(text) > 160 else ''}")


def read_jsonl(path: Path, key: str) -> list[dict]:
    """The objects of a JSON-lines file, each with `key`; a bad line stops with its line number."""
    objects = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise click.ClickException(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(item, dict) or key not in item:
                raise click.ClickException(f'{path}:{number}: expected an object with "{key}"')
            objects.append(item)
    return objects


def read_questions(path: Path) -> list[dict]:
    questions = read_jsonl(path, "question")
    for number, item in enumerate(questions, start=1):
        if not isinstance(item["question"], str):
            raise click.ClickException(f'{path}: line {number}: "question" must be a string')
    return questions


@cli.command("search")
@click.argument("question", required=False)
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="How many passages (default: POLICY_QA_TOP_K).")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--doc", "doc_ids", multiple=True, help="Only this document id (file name); repeatable.")
@click.option("--level", help="Only this administrative level: 国家, 省级, 市级 …")
@click.option("--region", help="Only this region, e.g. 全国 or 四川省广元市.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON lines {"question": ..., "id": ...}; prints one JSON object per line.')
def search_command(question, k, mode, doc_ids, level, region, as_json, input_file) -> None:
    """Search the policy documents for passages that answer QUESTION."""
    if not question and not input_file:
        raise click.UsageError("give a QUESTION or --input FILE.jsonl")
    settings = Settings()
    kb = open_kb(settings)
    filters = SearchFilters(doc_ids=list(doc_ids) or None, level=level, region=region)
    k = k or settings.top_k
    if input_file:
        for item in read_questions(input_file):
            hits = search(kb, item["question"], k, mode, filters)
            out = {"id": item.get("id"), "question": item["question"], "results": [h.as_json() for h in hits]}
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    hits = search(kb, question, k, mode, filters)
    if as_json:
        click.echo(json.dumps({"question": question, "results": [h.as_json() for h in hits]}, ensure_ascii=False, indent=2))
    else:
        print_hits(question, hits)


def open_assistant(settings: Settings) -> Assistant:
    return Assistant(settings, open_kb(settings))


def print_sources(answer: Answer) -> None:
    if answer.notice:
        click.echo(f"\n注意：{answer.notice}")
    if answer.citations:
        click.echo("\n来源：")
    for c in answer.citations:
        where = "  ".join(part for part in (c.doc_number, c.section, f"第{c.page}页" if c.page else "") if part)
        click.echo(f"[{c.n}] 《{c.doc_title}》" + (f"  {where}" if where else ""))
        click.echo(f"    “{c.quote}”")


def stream_answer(assistant: Assistant, question: str, history: list[Message], mode: str) -> Answer:
    """Print the answer as it is generated; if checking changed it, print the checked version after it."""
    streamed: list[str] = []
    for event in assistant.stream(question, history, mode):
        if event.kind == "token":
            streamed.append(event.text)
            click.echo(event.text, nl=False)
        elif event.kind == "reset":
            streamed.clear()
            click.echo("\n（语言模型中断，以下改为从条款中摘录的回答）")
        elif event.answer is not None:
            if "".join(streamed).strip() != event.answer.answer:
                click.echo("\n\n核对引用后的回答：\n" + event.answer.answer, nl=False)
            click.echo()
            print_sources(event.answer)
            return event.answer
    raise AssertionError("stream() always ends with an answer")


@cli.command("ask")
@click.argument("question", required=False)
@click.option("--mode", type=click.Choice(ANSWER_MODES), default="auto", show_default=True,
              help="llm: the language model; extractive: quote the clauses; auto: llm when one is configured.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON lines {"question": ..., "id": ...}; prints one JSON answer per line.')
def ask_command(question, mode, as_json, input_file) -> None:
    """Answer QUESTION from the policy documents, citing the clauses it rests on."""
    if not question and not input_file:
        raise click.UsageError("give a QUESTION or --input FILE.jsonl")
    assistant = open_assistant(Settings())
    try:
        if input_file:
            for item in read_questions(input_file):
                try:
                    out = {"id": item.get("id"), **assistant.ask(item["question"], mode=mode).model_dump()}
                except AssistantError as error:
                    out = {"id": item.get("id"), "question": item["question"], "error": str(error)}
                click.echo(json.dumps(out, ensure_ascii=False))
        elif as_json:
            click.echo(json.dumps(assistant.ask(question, mode=mode).model_dump(), ensure_ascii=False, indent=2))
        else:
            stream_answer(assistant, question, [], mode)
    except AssistantError as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:  # noqa: BLE001 — e.g. a read-only or locked index folder: a message, not a traceback
        raise click.ClickException(unexpected(error)) from None


def unexpected(error: Exception) -> str:
    return f"could not answer ({type(error).__name__}: {error}); check that the index folder is readable and writable"


@cli.command("chat")
@click.option("--mode", type=click.Choice(ANSWER_MODES), default="auto", show_default=True)
def chat_command(mode: str) -> None:
    """An interactive session: follow-up questions are understood in the context of the conversation."""
    assistant = open_assistant(Settings())
    history: list[Message] = []
    click.echo("广圆享政策问答。输入问题后回车；输入“新话题”清空对话，输入“退出”或按 Ctrl-D 结束。")
    while True:
        try:
            question = click.prompt("\n问", prompt_suffix="：", default="", show_default=False).strip()
        except (EOFError, click.Abort):
            click.echo()
            return
        if question in ("退出", "exit", "quit"):
            return
        if question in ("新话题", "reset"):
            history.clear()
            continue
        if not question:
            continue
        try:
            answer = stream_answer(assistant, question, history, mode)
        except AssistantError as error:
            click.echo(f"错误：{error}", err=True)
            continue
        except Exception as error:  # noqa: BLE001 — keep the session alive
            click.echo(f"错误：{unexpected(error)}", err=True)
            continue
        history += [Message(role="user", content=question), Message(role="assistant", content=answer.answer)]


@cli.command("items")
@click.option("--doc", "doc_ids", multiple=True, help="Only this document id (file name); repeatable.")
@click.option("--beneficiary", help="Only items for this group, e.g. 小微企业, 个体工商户, 园区企业.")
@click.option("--benefit", help="Only items of this benefit type, e.g. 融资/担保, 水电气.")
@click.option("--json", "as_json", is_flag=True, help="Print every field, with the source span of each tag.")
def items_command(doc_ids, beneficiary, benefit, as_json) -> None:
    """List the policy items extracted from the documents, with their tags, for interpreters to review."""
    kb = open_kb(Settings())
    chosen = [
        item for item in kb.items
        if (not doc_ids or item.doc_id in doc_ids)
        and (not beneficiary or beneficiary in item.values("beneficiaries"))
        and (not benefit or benefit in item.values("benefits"))
    ]
    if as_json:
        click.echo(json.dumps([item.model_dump() for item in chosen], ensure_ascii=False, indent=2))
        return
    for item in chosen:
        click.echo(f"{item.item_id}")
        click.echo(f"    受益对象: {'、'.join(item.values('beneficiaries')) or '—'}   政策类型: {'、'.join(item.values('benefits')) or '—'}")
        conditions = "；".join(t.evidence for t in item.conditions)
        if conditions:
            click.echo(f"    条件: {conditions}")
        if item.lead:
            click.echo(f"    牵头: {'、'.join(item.lead)}" + (f"   配合: {'、'.join(item.cooperating)}" if item.cooperating else ""))
    click.echo(f"{len(chosen)} items.")


def read_profile(path: Path):
    from pydantic import ValidationError

    from assistant.matching import Profile

    try:
        return Profile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'profile'}: {e['msg']}" for e in error.errors())
        raise click.ClickException(f"{path}: not a valid profile ({problems})") from None


def print_match(result) -> None:
    shown = len(result.items)
    click.echo(f"共有 {result.total} 项政策适用" + (f"，以下是最相关的 {shown} 项（--all 显示全部）：" if shown < result.total else "："))
    for n, m in enumerate(result.items, start=1):
        click.echo(f"\n{n}. 《{m.doc_title}》{m.doc_number}  {m.section}  [{m.score}]")
        for reason in m.reasons:
            click.echo(f"   ✓ {reason}")
        for doubt in m.uncertain:
            click.echo(f"   ? {doubt}")
        if m.benefit:
            click.echo(f"   政策类型: {'、'.join(m.benefit)}")
        if m.departments["lead"]:
            click.echo(f"   联系: {'、'.join(m.departments['lead'])}")


@cli.command("match")
@click.option("--profile", "profile_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The enterprise profile, JSON.")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON lines {"id": ..., "profile": {...}}; prints one result per line.')
@click.option("-n", "limit", type=click.IntRange(1), default=10, show_default=True, help="How many items to show (the total is always given).")
@click.option("--all", "show_all", is_flag=True, help="Show every applicable item.")
@click.option("--json", "as_json", is_flag=True)
def match_command(profile_file, input_file, limit, show_all, as_json) -> None:
    """Which policy items apply to an enterprise, why, what to check, and whom to contact."""
    from pydantic import ValidationError

    from assistant.matching import Profile, match

    if not profile_file and not input_file:
        raise click.UsageError("give --profile FILE.json or --input FILE.jsonl")
    kb = open_kb(Settings())
    limit = None if show_all else limit
    if input_file:
        for line in read_jsonl(input_file, "profile"):
            try:
                result = match(kb.items, Profile.model_validate(line["profile"]), limit, kb.item_index)
                out = {"id": line.get("id"), **result.model_dump(exclude={"profile"})}
            except ValidationError as error:
                out = {"id": line.get("id"), "error": f"not a valid profile: {error.errors()[0]['msg']}"}
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    result = match(kb.items, read_profile(profile_file), limit, kb.item_index)
    if as_json:
        click.echo(json.dumps(result.model_dump(exclude={"profile"}), ensure_ascii=False, indent=2))
    else:
        print_match(result)


@cli.command("eval")
@click.option("--set", "gold_set", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("eval/gold.jsonl"), show_default=True, help="Gold questions, one JSON object per line.")
@click.option("--config", "configs", multiple=True, type=click.Choice(CONFIGS),
              help="Configurations to run (default: hybrid search and the answer mode users get); repeatable.")
@click.option("--compare", is_flag=True, help="Run every configuration side by side, with the LangChain-tutorial baseline.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions (after --types).")
@click.option("--types", help="Only these question types, comma-separated: fact,measure,owner,list,eligibility,multi,unanswerable.")
@click.option("--judge", is_flag=True, help="Also let the configured language model grade correctness and faithfulness.")
@click.option("--check", "thresholds", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Exit 1 when a metric is below its minimum (or above its maximum) in this TOML file.")
@click.option("--quick", is_flag=True, help="The fixed subset and configurations of eval/thresholds.toml, checked against it.")
@click.option("--report/--no-report", default=True, help="Write eval/reports/<time>/ (results.jsonl, report.md, report.html, charts).")
@click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("eval/reports"), show_default=True)
@click.option("--matching", "matching_set", type=click.Path(dir_okay=False, path_type=Path), default=Path("eval/matching.jsonl"),
              show_default=True, help="Gold profiles for policy matching (precision and recall at 10); skipped when missing.")
@click.option("--progress/--no-progress", default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
def eval_command(gold_set, configs, compare, limit, types, judge, thresholds, quick, report, reports_dir, matching_set, progress, as_json) -> None:
    """Measure retrieval, answers, citations and refusals on a gold question set."""
    from assistant.eval_runs import EvalError, default_configs, run
    from assistant.evaluation import TYPES, check_thresholds, evaluate_matching, load_gold, load_matching, load_thresholds, select
    from assistant.reports import matching_table, summaries_of, table, write_report

    settings = Settings()
    assistant = open_assistant(settings)
    wanted = [t.strip() for t in types.split(",")] if types else None
    if wanted and not set(wanted) <= set(TYPES):
        raise click.BadParameter(f"unknown type in {types!r}; choose from {', '.join(TYPES)}", param_hint="--types")
    if judge and not settings.llm_configured:
        raise click.UsageError("--judge needs a language model: set POLICY_QA_LLM_API_KEY or POLICY_QA_LLM_BASE_URL")
    step = 1
    if quick:
        thresholds = thresholds or Path("eval/thresholds.toml")
        plan = load_thresholds(thresholds).get("quick", {})
        step, configs = plan.get("step", 1), tuple(configs or plan.get("configs", ()))
    items = select(load_gold(gold_set), limit, wanted, step)
    if not items:
        raise click.UsageError("no questions left after --types / --limit")
    chosen = list(configs) or default_configs(assistant, compare)
    try:
        results = run(assistant, items, chosen, with_judge=judge, progress=progress)
    except EvalError as error:
        raise click.ClickException(str(error)) from None
    summaries = summaries_of(results)
    matching = None
    if matching_set.exists():
        matching = evaluate_matching(assistant.kb.items, load_matching(matching_set), index=assistant.kb.item_index)
        summaries["matching"] = matching[0]
    if as_json:
        click.echo(json.dumps(summaries, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{len(items)} questions from {gold_set}\n")
        click.echo(table({k: v for k, v in summaries.items() if k != "matching"}))
        if matching:
            click.echo(f"\nPolicy matching, {matching[0]['profiles']} profiles from {matching_set}:\n" + matching_table(matching[0]))
    if report:
        folder = reports_dir / datetime.now().strftime("%Y%m%d-%H%M%S")
        path = write_report(results, folder, f"policy-qa eval: {gold_set.name}, {len(items)} questions", matching)
        click.echo(f"\nReport: {path} (also report.html, results.jsonl and charts)", err=as_json)
    if thresholds:
        failures = check_thresholds(summaries, load_thresholds(thresholds))
        for failure in failures:
            click.echo(f"REGRESSION: {failure}", err=True)
        if failures:
            sys.exit(1)
        click.echo(f"All thresholds in {thresholds} met.", err=as_json)


def main() -> None:
    cli()
