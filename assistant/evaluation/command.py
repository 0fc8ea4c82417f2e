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

# The development set: questions knobs may be chosen on (by cross-validation). The blind split is not one.
DEVELOPMENT = (
    Path("eval/gold.jsonl"),
    Path("eval/dev-situations.jsonl"),
    Path("eval/dev-fresh.jsonl"),
    Path("eval/dev-plan-situations.jsonl"),
)


def spoken_list(paths) -> str:
    """ "a, b and c": the files of a set as the help and the report name them."""
    names = [str(p) for p in paths]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


@click.command("eval")
@click.option(
    "--set",
    "gold_sets",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"The development set: gold questions, one JSON object per line; repeatable. Default: {spoken_list(DEVELOPMENT)}.",
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
@click.option(
    "--types", help="Only these question types, comma-separated: fact,measure,owner,list,eligibility,multi,unanswerable,currency."
)
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
    help="Gold profiles for policy matching (recall at 10, must-not items at 10), the development set; skipped when missing.",
)
@click.option(
    "--matching-blind",
    "matching_blind_set",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("eval/matching_blind.jsonl"),
    show_default=True,
    help="The frozen blind matching profiles, run beside them (never used to choose a knob); skipped when missing.",
)
@click.option(
    "--blind",
    "blind_set",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("eval/blind.jsonl"),
    show_default=True,
    help="The frozen blind split, run beside the development set (never used to choose a knob); skipped when missing.",
)
@click.option("--no-blind", is_flag=True, help="Run the development set only.")
@click.option(
    "--tune",
    help="Choose a setting by cross-validation on the development set instead: NAME=V1,V2,… (e.g. bm25_weight=1,1.5,2,3).",
)
@click.option(
    "--objective",
    type=click.Choice(["mrr", "hit@5", "correct", "matching"]),
    default="mrr",
    show_default=True,
    help="What --tune maximises; `matching`: recall@10 less must-not items at 10, on the --matching profiles.",
)
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Folds for --tune.")
@click.option("--progress/--no-progress", default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
def eval_command(
    gold_sets,
    configs,
    compare,
    limit,
    types,
    judge,
    thresholds,
    quick,
    report,
    reports_dir,
    matching_set,
    matching_blind_set,
    blind_set,
    no_blind,
    tune,
    objective,
    folds,
    progress,
    as_json,
) -> None:
    """Measure retrieval, answers, citations and refusals on the development set and the blind split."""
    from assistant.evaluation.matching import matching_runs
    from assistant.evaluation.metrics import (
        TYPES,
        Corpus,
        check_thresholds,
        load_gold,
        load_thresholds,
        national_laws,
        select,
    )
    from assistant.evaluation.reports import BLIND, matching_table, misses_table, side_by_side, summaries_of, table, write_report
    from assistant.evaluation.runs import default_configs, run

    if tune and objective == "matching":
        return tune_command(matching_set, tune, ("matching",), objective, folds)
    if tune:
        return tune_command(development_set(gold_sets), tune, configs, objective, folds)

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
    items = select(development_set(gold_sets), limit, wanted, step)
    if not items:
        raise click.UsageError("no questions left after --types / --limit")
    chosen = list(configs) or default_configs(settings, compare)
    results = run(service, items, chosen, with_judge=judge, progress=progress)
    blind_items = [] if no_blind or not blind_set.exists() else select(load_gold(blind_set), None, wanted)
    if blind_items:
        for config, rows in run(service, blind_items, chosen, with_judge=judge, progress=progress).items():
            results[BLIND + config] = rows
    summaries = summaries_of(results)
    summaries.update(national_laws(results, Corpus(settings.corpus_dir)))
    matching = matching_runs(service, matching_set, None if no_blind else matching_blind_set)
    summaries.update({name: summary for name, (summary, _) in matching.items()})
    if as_json:
        click.echo(json.dumps(summaries, ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"{len(items)} questions from {spoken_list(gold_sets or DEVELOPMENT)}"
            + (f", {len(blind_items)} from {blind_set}" if blind_items else "")
            + "\n"
        )
        questions = {k: v for k, v in summaries.items() if k not in matching}
        click.echo(table(questions))
        if blind_items:
            click.echo("\nDevelopment set beside the blind split:\n" + side_by_side(summaries))
        misses = misses_table(questions)
        if misses:
            click.echo("\nWhere the answers go wrong (shares of the answerable questions):\n" + misses)
        if matching:
            click.echo("\nPolicy matching (ours beside the naive BM25 matcher; blind/ = the blind profiles):\n" + matching_table(matching))
    if report:
        folder = reports_dir / datetime.now().strftime("%Y%m%d-%H%M%S")
        path = write_report(results, folder, f"policy-qa eval: {len(items)} development questions, {len(blind_items)} blind", matching)
        click.echo(f"\nReport: {path} (also report.html, results.jsonl and charts)", err=as_json)
    if thresholds:
        failures = check_thresholds(summaries, load_thresholds(thresholds))
        for failure in failures:
            click.echo(f"REGRESSION: {failure}", err=True)
        if failures:
            sys.exit(1)
        click.echo(f"All thresholds in {thresholds} met.", err=as_json)


def parse_value(kind, text: str):
    """A setting's value as typed on the command line: "false" is False, "0.5" a float."""
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    return kind(text) if kind in (int, float, str) else text


def development_set(paths: tuple[Path, ...]) -> list:
    """The development questions: the files given, or the default ones that exist."""
    from assistant.evaluation.metrics import load_gold

    return [item for path in paths or [p for p in DEVELOPMENT if p.exists()] for item in load_gold(path)]


def tune_command(items: list | Path, tune: str, configs: tuple[str, ...], objective: str, folds: int) -> None:
    """`eval --tune NAME=V1,V2`: each value run over the development set (questions, or the matching profiles
    in the file `items`), chosen fold by fold."""
    from assistant.evaluation.matching import tune_matching
    from assistant.evaluation.metrics import load_matching
    from assistant.evaluation.tuning import Tuning, tuning_table
    from assistant.evaluation.tuning import tune as cross_validated

    name, _, listed = tune.partition("=")
    if not listed:
        raise click.BadParameter("give NAME=V1,V2,…, e.g. bm25_weight=1,1.5,2,3", param_hint="--tune")
    field = Settings.model_fields.get(name.strip())
    if field is None:
        raise click.BadParameter(f"unknown setting '{name}'", param_hint="--tune")
    values = [parse_value(field.annotation, v.strip()) for v in listed.split(",")]
    config = configs[0] if configs else ("hybrid" if objective != "correct" else "extractive")
    if objective == "matching":
        whole, fold_results = tune_matching(Settings(), load_matching(items), name.strip(), values, folds)
        result = Tuning(name.strip(), "recall@10 - must_not@10", "matching", whole, fold_results)
    else:
        result = cross_validated(Settings(), items, name.strip(), values, config, objective, folds)
    click.echo(tuning_table(result))
