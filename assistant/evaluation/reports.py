"""Eval reports: `results.jsonl` (one line per question and configuration), `report.md` and `report.html`
with the summary, the gain of each configuration over the tutorial baseline, breakdowns by question type
and by document, and matplotlib charts (metric bars, per-type accuracy, latency distribution).
"""

import html
import json
from datetime import datetime
from pathlib import Path

from assistant.errors import PolicyQAError
from assistant.evaluation.metrics import LOWER_IS_BETTER, MISSES, Row, breakdown, headline, miss, summarise

try:
    import matplotlib
except ImportError:  # an optional extra: the run-time package does not need it
    raise PolicyQAError("eval reports draw charts with matplotlib; install it with: pip install -e '.[eval]' (make eval does)") from None

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = [
    "questions",
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr",
    "quote_recall@5",
    "key_fact_accuracy",
    "refusal_precision",
    "refusal_recall",
    "false_refusal_rate",
    "verbatim_quotes",
    "citation_recall",
    "citation_noise",
    "judge_correct",
    "judge_faithful",
    "judge_agreement",
    "p50_ms",
    "p95_ms",
]
CHART_METRICS = ["hit@5", "mrr", "key_fact_accuracy", "refusal_recall", "citation_recall", "verbatim_quotes"]


def summaries_of(results: dict[str, list[Row]]) -> dict[str, dict]:
    return {config: summarise(rows) for config, rows in results.items()}


def table(summaries: dict[str, dict], first: str = "config") -> str:
    """A markdown table with the columns that any row has."""
    columns = [c for c in COLUMNS if any(c in s for s in summaries.values())]
    lines = ["| " + " | ".join([first, *columns]) + " |", "|" + "---|" * (len(columns) + 1)]
    for name, summary in summaries.items():
        lines.append("| " + " | ".join([name, *(cell(summary.get(c)) for c in columns)]) + " |")
    return "\n".join(lines)


def cell(value) -> str:
    return "—" if value is None else str(value)


# Results on the blind split are kept under the configuration's name with this prefix.
BLIND = "blind/"
# The measures shown for the development set and the blind split side by side.
SIDE_BY_SIDE = ["hit@5", "mrr", "key_fact_accuracy", "refusal_recall", "false_refusal_rate", "verbatim_quotes"]
# How the printout and the report name each reason of `metrics.MISSES`.
MISS_HEADINGS = {
    "refused": "refused",
    "not retrieved": "a lacking fact not in the passages",
    "not quoted": "the facts in the passages, not quoted",
}


def baseline_for(config: str) -> str:
    prefix = BLIND if config.startswith(BLIND) else ""
    config = config.removeprefix(BLIND)
    if config in ("bm25", "dense", "hybrid"):
        return prefix + "baseline"
    return prefix + ("baseline-llm" if config == "llm" else "baseline-extractive")


def side_by_side(summaries: dict[str, dict]) -> str:
    """Each configuration's headline measures on the development set and on the blind split, next to each other."""
    configs = [c for c in summaries if not c.startswith((BLIND, "matching")) and BLIND + c in summaries]
    columns = [m for m in SIDE_BY_SIDE if any(summaries[c].get(m) is not None for c in configs)]
    lines = ["| config | " + " | ".join(f"{m} dev | {m} blind" for m in columns) + " |", "|---|" + "---|---|" * len(columns)]
    for config in configs:
        cells = [f"{cell(summaries[config].get(m))} | {cell(summaries[BLIND + config].get(m))}" for m in columns]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def misses_table(summaries: dict[str, dict]) -> str:
    """For each answering configuration, what became of its answerable questions: key facts given, or missed for
    one of the reasons of `metrics.MISSES` (refused, a lacking fact not in the passages, or in them and not quoted)."""
    configs = [c for c, s in summaries.items() if s.get("key_fact_accuracy") is not None]
    if not configs:
        return ""
    columns = {"key_fact_accuracy": "key facts given", **{key: MISS_HEADINGS[why] for why, key in MISSES.items()}}
    lines = ["| config | " + " | ".join(columns.values()) + " |", "|---|" + "---|" * len(columns)]
    for config in configs:
        lines.append(f"| {config} | " + " | ".join(cell(summaries[config].get(key)) for key in columns) + " |")
    return "\n".join(lines)


def gains(summaries: dict[str, dict]) -> str:
    """Each of our configurations against the tutorial baseline of its kind, metric by metric."""
    rows = []
    for config, summary in summaries.items():
        base = summaries.get(baseline_for(config))
        if config.removeprefix(BLIND).startswith("baseline") or base is None:
            continue
        for metric in ("hit@1", "hit@5", "mrr", "key_fact_accuracy", "refusal_recall", "citation_recall", "verbatim_quotes"):
            ours, theirs = summary.get(metric), base.get(metric)
            if ours is not None and theirs is not None:
                rows.append(f"| {config} | {metric} | {theirs} | {ours} | {ours - theirs:+.3f} |")
    if not rows:
        return ""
    return "\n".join(["| configuration | metric | baseline | ours | gain |", "|---|---|---|---|---|", *rows])


def per_group(results: dict[str, list[Row]], by: str) -> str:
    """One headline figure per configuration and group: key-fact accuracy for answers, hit@5 for search."""
    groups = {config: breakdown(rows, by) for config, rows in results.items()}
    names = sorted({name for g in groups.values() for name in g})
    lines = ["| " + by + " | " + " | ".join(groups) + " |", "|" + "---|" * (len(groups) + 1)]
    for name in names:
        cells = []
        for config in groups:
            summary = groups[config].get(name)
            value = headline(summary)[1] if summary else None
            cells.append(f"{cell(value)} ({summary['questions']})" if summary else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw_charts(results: dict[str, list[Row]], summaries: dict[str, dict], folder: Path) -> list[str]:
    files = []
    configs = list(summaries)
    metric_values = {c: [summaries[c].get(m) or 0 for m in CHART_METRICS] for c in configs}
    files.append(grouped_bars(CHART_METRICS, metric_values, "Metrics by configuration", folder / "metrics.png"))
    types = sorted({r.item.type for rows in results.values() for r in rows})
    type_values = {}
    for config in configs:
        by_type = breakdown(results[config], "type")
        type_values[config] = [(headline(by_type[t])[1] or 0) if t in by_type else 0 for t in types]
    title = "Per question type: key-fact accuracy or refusal recall (answers), hit@5 (search)"
    files.append(grouped_bars(types, type_values, title, folder / "types.png"))
    # Latency distribution.
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.boxplot([[r.latency_ms for r in results[c]] for c in configs], tick_labels=configs, showfliers=True)
    ax.set_yscale("log")
    ax.set_ylabel("ms per question (log)")
    ax.set_title("Latency by configuration")
    files.append(save(fig, folder / "latency.png"))
    return files


def grouped_bars(groups: list[str], values: dict[str, list[float]], title: str, path: Path) -> str:
    """One bar per configuration within each group, on a 0–1 scale."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(values), 1)
    for i, (config, bars) in enumerate(values.items()):
        ax.bar([x + i * width for x in range(len(groups))], bars, width, label=config)
    ax.set_xticks([x + width * (len(values) - 1) / 2 for x in range(len(groups))], groups)
    ax.set_ylim(0, 1.15)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=6, loc="upper center")
    return save(fig, path)


def save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def matching_table(runs: dict[str, tuple[dict, list[dict]]]) -> str:
    """One row per matcher and profile set."""
    columns = list(next(iter(runs.values()))[0])
    lines = ["| matcher | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(cell(summary.get(c)) for c in columns) + " |" for name, (summary, _) in runs.items()]
    return "\n".join(lines)


def matching_misses(runs: dict[str, tuple[dict, list[dict]]]) -> str:
    """Our matcher's misses on the development profiles (the blind ones are not for reading while tuning)."""
    lines = []
    for row in runs.get("matching", ({}, []))[1]:
        for item_id in row["missed"]:
            lines.append(f"- {row['id']}: expected in the first 10: {item_id}")
        for item_id in row["wrongly_matched"]:
            lines.append(f"- {row['id']}: matched although it does not apply: {item_id}")
    return "\n".join(lines)


def write_report(
    results: dict[str, list[Row]], folder: Path, title: str, matching: dict[str, tuple[dict, list[dict]]] | None = None
) -> Path:
    """Write results.jsonl, the charts, report.md and report.html into `folder`; return report.md."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "results.jsonl").open("w", encoding="utf-8") as out:
        for rows in results.values():
            for row in rows:
                out.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
    summaries = summaries_of(results)
    charts = draw_charts(results, summaries, folder)
    sections = [
        ("Summary", table(summaries)),
        ("Gain over the LangChain-tutorial baseline", gains(summaries)),
        ("Where the answers go wrong (shares of the answerable questions)", misses_table(summaries)),
        (
            "By question type (answers: key-fact accuracy, or refusal recall on unanswerable questions; search: hit@5; "
            "with the number of questions)",
            per_group(results, "type"),
        ),
        ("By document", per_group(results, "document")),
    ]
    if matching:
        sections.append(("Policy matching (recall and must-not items at 10, beside the naive matcher)", matching_table(matching)))
    wrong = wrong_answers(results)
    markdown = [
        f"# {title}",
        f"Written {datetime.now().astimezone().isoformat(timespec='seconds')}. Lower is better for: {', '.join(sorted(LOWER_IS_BETTER))}.",
    ]
    for heading, body in sections:
        if body:
            markdown += [f"## {heading}", body]
    markdown += ["## Charts", *(f"![{name}]({name})" for name in charts)]
    if wrong:
        markdown += ["## Wrong answers", wrong]
    if matching and matching_misses(matching):
        markdown += ["## Matching misses", matching_misses(matching)]
    report = folder / "report.md"
    report.write_text("\n\n".join(markdown) + "\n", encoding="utf-8")
    (folder / "report.html").write_text(to_html(title, sections, charts, wrong), encoding="utf-8")
    return report


def wrong_answers(results: dict[str, list[Row]]) -> str:
    lines = []
    for config, rows in results.items():
        for row in rows:
            if row.answer is None or row.correct:
                continue
            if row.item.answerable:
                why = (
                    "refused"
                    if row.refused
                    else "missing " + " / ".join("|".join(g) for g in row.missing) + f" ({MISS_HEADINGS[miss(row)]})"
                )
            else:
                why = "answered an unanswerable question"
            lines.append(f"- {config} {row.item.id} [{row.item.type}] {row.item.question} — {why}")
    return "\n".join(lines)


def to_html(title: str, sections: list[tuple[str, str]], charts: list[str], wrong: str) -> str:
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child{text-align:left}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, body in sections:
        if body:
            parts += [f"<h2>{html.escape(heading)}</h2>", markdown_table_to_html(body)]
    parts += ["<h2>Charts</h2>", *(f"<img src='{name}' style='max-width:100%'>" for name in charts)]
    if wrong:
        parts += ["<h2>Wrong answers</h2><ul>", *(f"<li>{html.escape(line[2:])}</li>" for line in wrong.splitlines()), "</ul>"]
    return "\n".join(parts)


def markdown_table_to_html(markdown: str) -> str:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if not line.startswith("|---")]
    head, body = rows[0], rows[1:]
    out = ["<table><tr>", *(f"<th>{html.escape(c.strip())}</th>" for c in head), "</tr>"]
    for row in body:
        out += ["<tr>", *(f"<td>{html.escape(c.strip())}</td>" for c in row), "</tr>"]
    return "".join(out + ["</table>"])
