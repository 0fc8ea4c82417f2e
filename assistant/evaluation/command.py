"""`policy-qa eval`: the command that measures the assistant on a gold set, through the service users call.
The CLI loads it by name, so nothing of the evaluation is imported by the other commands."""

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from assistant.evaluation.runs import CONFIGS
from assistant.service.service import Service
from assistant.settings import Settings


@click.command("eval")
@click.option(
    "--set",
    "gold_set",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("eval/gold.jsonl"),
    show_default=True,
    help="Gold questions, one JSON object per line.",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Choice(CONFIGS),
    help="Configurations to run (default: hybrid search and the answer mode users get); repeatable.",
)
@click.option("--compare", is_flag=True, help="Run every configuration side by side, with the LangChain-tutorial baseline.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions (after --types).")
@click.option("--types", help="Only these question types, comma-separated: fact,measure,owner,list,eligibility,multi,unanswerable.")
@click.option("--judge", is_flag=True, help="Also let the configured language model grade correctness and faithfulness.")
@click.option(
    "--check",
    "thresholds",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Exit 1 when a metric is below its minimum (or above its maximum) in this TOML file.",
)
@click.option("--quick", is_flag=True, help="The fixed subset and configurations of eval/thresholds.toml, checked against it.")
@click.option("--report/--no-report", default=True, help="Write eval/reports/<time>/ (results.jsonl, report.md, report.html, charts).")
@click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("eval/reports"), show_default=True)
@click.option(
    "--matching",
    "matching_set",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("eval/matching.jsonl"),
    show_default=True,
    help="Gold profiles for policy matching (precision and recall at 10); skipped when missing.",
)
@click.option("--progress/--no-progress", default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
def eval_command(
    gold_set, configs, compare, limit, types, judge, thresholds, quick, report, reports_dir, matching_set, progress, as_json
) -> None:
    """Measure retrieval, answers, citations and refusals on a gold question set."""
    from assistant.evaluation.metrics import TYPES, check_thresholds, evaluate_matching, load_gold, load_matching, load_thresholds, select
    from assistant.evaluation.reports import matching_table, summaries_of, table, write_report
    from assistant.evaluation.runs import default_configs, run

    settings = Settings()
    service = Service(settings)
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
    chosen = list(configs) or default_configs(settings, compare)
    results = run(service, items, chosen, with_judge=judge, progress=progress)
    summaries = summaries_of(results)
    matching = None
    if matching_set.exists():
        matching = evaluate_matching(service, load_matching(matching_set))
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
