"""The `policy-qa` command line: ingest documents, list them, search them, ask questions, chat, list policy
items, match an enterprise profile, evaluate.

Every command calls the service and nothing else. Heavy libraries (chromadb, the embedding model, openai) are
imported inside the commands that use them, so `policy-qa --help` answers at once. `eval` lives in the
evaluation package and is loaded by name only when it runs.
"""

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.errors import PolicyQAError
from assistant.service.plain_text import sources_text, verified_text
from assistant.vocabulary import OCR_NOTE

if TYPE_CHECKING:
    from assistant.service.service import AskResponse, Service

ANSWER_MODES = ("auto", "llm", "extractive")
SEARCH_MODES = ("hybrid", "bm25", "dense")
# Commands outside the run-time package, imported only when invoked: name → ("module:attribute", short help).
LAZY_COMMANDS = {"eval": ("assistant.evaluation.command:eval_command", "Measure retrieval, answers, citations and refusals on a gold set.")}


class PolicyQAGroup(click.Group):
    """Loads the lazy commands when they run, and maps every PolicyQAError to its one-line message and exit
    status 1, in one place."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[name][0].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help, without importing the lazy commands to read their help."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, LAZY_COMMANDS[name][1] if name in LAZY_COMMANDS else self.commands[name].get_short_help_str(limit)) for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PolicyQAError as error:
            raise click.ClickException(str(error)) from None


INCLUDE_EXPIRED = click.option("--include-expired", is_flag=True, help="Also search documents past their 失效日期 (left out by default).")


def open_service(**overrides) -> "Service":
    from assistant.service.service import Service
    from assistant.settings import Settings

    return Service(Settings(**overrides))


@click.group(cls=PolicyQAGroup)
@click.version_option(package_name="policy-qa")
def cli() -> None:
    """广圆享 policy assistant: answers enterprises' questions about preferential policies, citing the clauses."""


@cli.command("ingest")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Folder of documents (default: corpus/).")
@click.option("--rebuild", is_flag=True, help="Re-read every document instead of only new and changed ones.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars while OCR reads scanned pages and while embedding.")
def ingest_command(corpus_dir: Path | None, rebuild: bool, progress: bool) -> None:
    """Index new and changed documents of the corpus and drop deleted ones."""
    report = open_service(**({"corpus_dir": corpus_dir} if corpus_dir else {})).ingest(rebuild=rebuild, progress=progress)
    for f in report.files:
        line = f"{f.status:<9} {f.file}"
        if f.status not in ("failed", "skipped", "duplicate"):
            line += f"  ({f.chunks} chunks)"
        click.echo(line + (f"  — {f.message}" if f.message else ""))
    statuses = ("added", "changed", "unchanged", "removed", "failed", "skipped", "duplicate")
    counts = {s: sum(1 for f in report.files if f.status == s) for s in statuses}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if report.build_id:
        click.echo(
            f"Indexed {report.chunks} chunks from {counts['added'] + counts['changed'] + counts['unchanged']} documents "
            f"({summary}); embedded {report.embedded}, reused {report.cached} cached vectors, kept {report.reused} in place; "
            f"{report.seconds:.1f}s."
        )
    elif report.ok:
        click.echo(f"Index is up to date ({summary}).")
    if not report.ok:
        click.echo(f"Nothing could be ingested ({summary or 'no files'}); the previous index is unchanged.", err=True)
        sys.exit(1)


@cli.command("docs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def docs_command(as_json: bool) -> None:
    """List the indexed documents: title, 文号, date, issuing authority, validity, chunk count."""
    service = open_service()
    documents = service.documents()
    validity = service.validities()
    if as_json:
        rows = [d.model_dump(exclude={"sha256"}) | {"validity": validity[d.doc_id]} for d in documents]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for d in documents:
        click.echo(f"{d.title}\n    文号: {d.doc_number or '—'}  日期: {d.date or '—'}  机关: {d.authority or '—'}  chunks: {d.chunks}")
        click.echo(f"    施行: {d.effective_date or '—'}  失效: {d.expiry_date or '—'}  状态: {validity[d.doc_id]}")
    click.echo(f"{len(documents)} documents, {sum(d.chunks for d in documents)} chunks.")


def print_hits(question: str, hits: list) -> None:
    click.echo(f"Q: {question}")
    if not hits:
        click.echo("   (no matching passages)")
    for hit in hits:
        c = hit.chunk
        ocr = OCR_NOTE if c.source == "ocr" else ""
        where = " · ".join(part for part in (c.doc_number, c.section, f"p.{c.page}" if c.page else "", ocr) if part)
        text = " ".join(c.text.split())
        click.echo(f"{hit.rank:>2}. [{hit.score:.4f}] {c.doc_title}" + (f"  ({where})" if where else ""))
        click.echo(f"    {text[:160]}{'…' if len(text) > 160 else ''}")


@dataclass
class BatchLine:
    """One line of a JSON-lines batch: the object it holds, or why it could not be read."""

    number: int
    item: dict
    error: str | None = None

    def error_json(self) -> str:
        return json.dumps({"line": self.number, "id": self.item.get("id"), "error": self.error}, ensure_ascii=False)


def read_jsonl(path: Path, key: str, text: bool = False) -> Iterator[BatchLine]:
    """The lines of a JSON-lines file, read one at a time (a file of any size is never held whole), each an object
    with `key` (a string when `text`) or the reason it is not. A byte-order mark is allowed; other encodings than
    UTF-8 stop the batch with a message, since no later line could be read either."""
    with path.open(encoding="utf-8-sig") as lines:
        number = 0
        try:
            for number, raw in enumerate(lines, start=1):
                if raw.strip():
                    yield read_line(path, number, raw, key, text)
        except UnicodeDecodeError:
            raise click.ClickException(f"{path}:{number + 1}: not UTF-8 text; save the file as UTF-8") from None


def read_line(path: Path, number: int, raw: str, key: str, text: bool) -> BatchLine:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as error:
        return BatchLine(number, {}, f"{path}:{number}: not valid JSON ({error.msg})")
    if not isinstance(item, dict) or key not in item:
        return BatchLine(number, item if isinstance(item, dict) else {}, f'{path}:{number}: expected an object with "{key}"')
    if text and not isinstance(item[key], str):
        return BatchLine(number, item, f'{path}:{number}: "{key}" must be a string')
    return BatchLine(number, item)


def run_batch(path: Path, key: str, text: bool, handle: Callable[[dict], dict]) -> None:
    """Each good line's object handled and printed as one JSON line; a line that cannot be read, or whose request
    is refused (a `PolicyQAError`), gets its error object instead and does not stop the others. The exit status is
    1 when any line could not be read, so a script notices."""
    bad = []
    for line in read_jsonl(path, key, text):
        if line.error is None:
            try:
                click.echo(json.dumps(handle(line.item), ensure_ascii=False))
                continue
            except PolicyQAError as error:
                line.error = str(error)
        else:
            bad.append(line.number)
        click.echo(line.error_json())
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" …" if len(bad) > 10 else "")
        raise click.ClickException(f"{len(bad)} line(s) of {path} could not be read (line {shown}); their objects say why")


def unexpected(error: Exception) -> str:
    return f"could not answer ({type(error).__name__}: {error}); check that the index folder is readable and writable"


@cli.command("search")
@click.argument("question", required=False)
@click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="How many passages (default: POLICY_QA_TOP_K).")
@click.option("--mode", type=click.Choice(SEARCH_MODES), default="hybrid", show_default=True)
@click.option("--doc", "doc_ids", multiple=True, help="Only this document id (file name); repeatable.")
@click.option("--level", help="Only this administrative level: 国家, 省级, 市级 …")
@click.option("--region", help="Only this region, e.g. 全国 or 四川省广元市.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON lines {"question": ..., "id": ...}; prints one JSON object per line.',
)
@INCLUDE_EXPIRED
def search_command(question, k, mode, doc_ids, level, region, as_json, input_file, include_expired) -> None:
    """Search the policy documents for passages that answer QUESTION."""
    from assistant.service.service import SearchFilters

    if not question and not input_file:
        raise click.UsageError("give a QUESTION or --input FILE.jsonl")
    service = open_service(**({"include_expired": True} if include_expired else {}))
    filters = SearchFilters(doc_ids=list(doc_ids) or None, level=level, region=region)
    if input_file:

        def search_one(item: dict) -> dict:
            hits = service.search(item["question"], k, mode, filters)
            return {"id": item.get("id"), "question": item["question"], "results": [h.as_json() for h in hits]}

        return run_batch(input_file, "question", True, search_one)
    hits = service.search(question, k, mode, filters)
    if as_json:
        click.echo(json.dumps({"question": question, "results": [h.as_json() for h in hits]}, ensure_ascii=False, indent=2))
    else:
        print_hits(question, hits)


def print_sources(citations: list[dict], notice: str | None = None) -> None:
    if text := sources_text(citations, notice):
        click.echo(text)


def print_verified(review) -> None:
    click.echo(verified_text(review), nl=False)


def stream_answer(service: "Service", question: str, history: list, mode: str) -> "AskResponse":
    """Print a verified answer first, if any; then the answer as it is generated, and if checking changed it,
    the checked version after it."""
    streamed: list[str] = []
    for event in service.stream(question, history, mode):
        if event.kind == "verified":
            print_verified(event.verified)
        elif event.kind == "token":
            streamed.append(event.text)
            click.echo(event.text, nl=False)
        elif event.kind == "reset":
            streamed.clear()
            click.echo("\n（语言模型中断，以下改为从条款中摘录的回答）")
        elif event.answer is not None:
            if "".join(streamed).strip() != event.answer.answer:
                click.echo("\n\n核对引用后的回答：\n" + event.answer.answer, nl=False)
            click.echo()
            print_sources([c.model_dump() for c in event.answer.citations], event.answer.notice)
            return event.answer
    raise AssertionError("stream() always ends with an answer")


@cli.command("ask")
@click.argument("question", required=False)
@click.option(
    "--mode",
    type=click.Choice(ANSWER_MODES),
    default="auto",
    show_default=True,
    help="llm: the language model; extractive: quote the clauses; auto: llm when one is configured.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON lines {"question": ..., "id": ...}; prints one JSON answer per line.',
)
@INCLUDE_EXPIRED
def ask_command(question, mode, as_json, input_file, include_expired) -> None:
    """Answer QUESTION from the policy documents, citing the clauses it rests on (an interpreter-verified answer first)."""
    if not question and not input_file:
        raise click.UsageError("give a QUESTION or --input FILE.jsonl")
    service = open_service(**({"include_expired": True} if include_expired else {}))
    try:
        if input_file:

            def ask_one(item: dict) -> dict:
                try:
                    return {"id": item.get("id"), **service.ask(item["question"], mode=mode).model_dump(mode="json")}
                except PolicyQAError as error:
                    return {"id": item.get("id"), "question": item["question"], "error": str(error)}

            run_batch(input_file, "question", True, ask_one)
        elif as_json:
            click.echo(json.dumps(service.ask(question, mode=mode).model_dump(mode="json"), ensure_ascii=False, indent=2))
        else:
            stream_answer(service, question, [], mode)
    except (PolicyQAError, click.ClickException):
        raise
    except Exception as error:  # noqa: BLE001 — e.g. a read-only or locked index folder: a message, not a traceback
        raise click.ClickException(unexpected(error)) from None


@cli.command("chat")
@click.option("--mode", type=click.Choice(ANSWER_MODES), default="auto", show_default=True)
def chat_command(mode: str) -> None:
    """An interactive session: follow-up questions are understood in the context of the conversation."""
    from assistant.service.service import Message

    service = open_service()
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
            answer = stream_answer(service, question, history, mode)
        except PolicyQAError as error:
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
    chosen = open_service().items(doc_ids, beneficiary, benefit)
    if as_json:
        click.echo(json.dumps([item.model_dump() for item in chosen], ensure_ascii=False, indent=2))
        return
    for item in chosen:
        click.echo(f"{item.item_id}")
        click.echo(
            f"    受益对象: {'、'.join(item.values('beneficiaries')) or '—'}   政策类型: {'、'.join(item.values('benefits')) or '—'}"
        )
        conditions = "；".join(t.evidence for t in item.conditions)
        if conditions:
            click.echo(f"    条件: {conditions}")
        if item.lead:
            click.echo(f"    牵头: {'、'.join(item.lead)}" + (f"   配合: {'、'.join(item.cooperating)}" if item.cooperating else ""))
    click.echo(f"{len(chosen)} items.")


def profile_problems(error) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'profile'}: {e['msg']}" for e in error.errors())


def read_profile(path: Path):
    from pydantic import ValidationError

    from assistant.service.service import Profile

    try:
        return Profile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        raise click.ClickException(f"{path}: not a valid profile ({profile_problems(error)})") from None


def print_match(result) -> None:
    shown, first, last = len(result.items), result.offset + 1, result.offset + len(result.items)
    if not shown:
        click.echo(f"共有 {result.total} 项政策适用" + (f"；第 {first} 项之后没有了。" if result.total else "。"))
    elif shown < result.total:
        more = f"（--offset {last} 看下一页，--all 显示全部）" if last < result.total else "（最后一页）"
        click.echo(f"共有 {result.total} 项政策适用，以下是第 {first}–{last} 项{more}：")
    else:
        click.echo(f"共有 {result.total} 项政策适用：")
    for m in result.items:
        click.echo(f"\n{m.rank}. 《{m.doc_title}》{m.doc_number}  {m.section}  [{m.score}]")
        for reason in m.reasons:
            click.echo(f"   ✓ {reason}")
        for doubt in m.uncertain:
            click.echo(f"   ? {doubt}")
        if m.benefit:
            click.echo(f"   政策类型: {'、'.join(m.benefit)}")
        if m.departments["lead"]:
            click.echo(f"   联系: {'、'.join(m.departments['lead'])}")


@cli.command("match")
@click.option(
    "--profile", "profile_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The enterprise profile, JSON."
)
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON lines {"id": ..., "profile": {...}}; prints one result per line.',
)
@click.option(
    "-n", "limit", type=click.IntRange(1), default=10, show_default=True, help="How many items to show (the total is always given)."
)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Skip this many items: the next page.")
@click.option("--all", "show_all", is_flag=True, help="Show every applicable item.")
@click.option("--json", "as_json", is_flag=True)
def match_command(profile_file, input_file, limit, offset, show_all, as_json) -> None:
    """Which policy items apply to an enterprise, why, what to check, and whom to contact."""
    from pydantic import ValidationError

    from assistant.service.service import Profile

    if not profile_file and not input_file:
        raise click.UsageError("give --profile FILE.json or --input FILE.jsonl")
    service = open_service()
    limit = None if show_all else limit
    if input_file:

        def match_one(item: dict) -> dict:
            try:
                result = service.match(Profile.model_validate(item["profile"]), limit, offset)
                return {"id": item.get("id"), **result.model_dump(exclude={"profile"})}
            except ValidationError as error:
                return {"id": item.get("id"), "error": f"not a valid profile ({profile_problems(error)})"}

        return run_batch(input_file, "profile", False, match_one)
    result = service.match(read_profile(profile_file), limit, offset)
    if as_json:
        click.echo(json.dumps(result.model_dump(exclude={"profile"}), ensure_ascii=False, indent=2))
    else:
        print_match(result)


def main() -> None:
    cli()
