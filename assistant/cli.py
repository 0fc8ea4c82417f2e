"""The `policy-qa` command line: ingest documents, list them, search them, evaluate retrieval."""

import json
import sys
from pathlib import Path

import click

from assistant.embeddings import EmbeddingError
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


def hit_json(hit: SearchHit) -> dict:
    c = hit.chunk
    return {
        "rank": hit.rank,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "doc_title": c.doc_title,
        "doc_number": c.doc_number,
        "section": c.section,
        "page": c.page,
        "text": c.text,
        "score": round(hit.score, 6),
        "bm25_rank": hit.bm25_rank,
        "dense_rank": hit.dense_rank,
    }


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


def read_questions(path: Path) -> list[dict]:
    questions = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise click.ClickException(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                raise click.ClickException(f'{path}:{number}: expected an object with a "question" string')
            questions.append(item)
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
            out = {"id": item.get("id"), "question": item["question"], "results": [hit_json(h) for h in hits]}
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    hits = search(kb, question, k, mode, filters)
    if as_json:
        click.echo(json.dumps({"question": question, "results": [hit_json(h) for h in hits]}, ensure_ascii=False, indent=2))
    else:
        print_hits(question, hits)


@cli.command("eval")
@click.option("--set", "gold_set", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("eval/retrieval.jsonl"), show_default=True)
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True, help="Modes to compare (default: all).")
@click.option("--json", "as_json", is_flag=True)
def eval_command(gold_set: Path, modes: tuple[str, ...], as_json: bool) -> None:
    """Measure retrieval (hit@k, MRR) on a gold question set."""
    from assistant.evaluation import evaluate_retrieval, load_gold, markdown_table

    kb = open_kb(Settings())
    results = evaluate_retrieval(kb, load_gold(gold_set), modes or MODES)
    if as_json:
        click.echo(json.dumps([r.summary() for r in results], ensure_ascii=False, indent=2))
    else:
        click.echo(markdown_table(results))


def main() -> None:
    cli()
