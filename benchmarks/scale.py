"""How the assistant grows with the library: synthetic corpora of N chunks built from the real documents, each
measured with embedded Chroma and with a Chroma server (`chroma run`, started here) for ingest throughput,
re-ingest of an unchanged corpus and of one changed document, app start-up, hybrid search and extractive `ask`
latency, the app's memory, and the index size on disk.

    python benchmarks/scale.py --sizes 1000,10000            # a few minutes on 2 cores
    python benchmarks/scale.py --sizes 1000,10000,100000     # about 20 minutes; writes docs/scale.png

The documents are the shipped corpus's measures and articles, recombined: each synthetic document draws ten of
them at random and gives them a title and 文号 of its own, so that texts are distinct. They are embedded through
the `openai` provider by a local embeddings server with deterministic vectors (tests/fake_embeddings.py), so that
the run measures the assistant, not the embedding model (whose own speed is in `benchmarks/ingest_vs_model.py`).
Each size and Chroma mode runs in a temporary folder: the ingests in one process, the app (start-up, search,
ask, memory) in a fresh one; nothing is downloaded and nothing leaves the machine.
"""

import argparse
import compileall
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PER_DOCUMENT = 10  # measures or articles in one synthetic document
DIMENSIONS = 256
QUESTIONS = 60  # the first questions of eval/gold.jsonl, each searched and asked once
MODES = ("embedded", "server")


def source_units() -> list[str]:
    """The measures and articles of the shipped corpus, as chunked for the index."""
    from assistant.documents.chunking import chunk_document
    from assistant.documents.loaders import load_file

    units = []
    for path in sorted((ROOT / "corpus").glob("*.md")):
        units += [f"{c.section.split(' > ')[-1]}\n{c.text}" for c in chunk_document(load_file(path), path.name, 500)]
    return units


def write_document(folder: Path, n: int, units: list[str], rng: random.Random, note: str = "") -> None:
    body = "\n\n".join(rng.sample(units, PER_DOCUMENT))
    header = f"---\ntitle: 政策汇编第{n + 1}号\ndoc_number: 汇编〔2026〕{n + 1}号\ndate: 2026-01-01\n---\n"
    (folder / f"汇编{n + 1:06d}.md").write_text(f"{header}# 政策汇编第{n + 1}号{note}\n\n{body}\n", encoding="utf-8")


def write_corpus(folder: Path, chunks: int) -> None:
    units = source_units()
    rng = random.Random(chunks)
    folder.mkdir(parents=True)
    for n in range(max(1, chunks // PER_DOCUMENT)):
        write_document(folder, n, units, rng)


def questions() -> list[str]:
    with (ROOT / "eval" / "gold.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line)["question"] for line in lines if line.strip()][:QUESTIONS]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def settings_for(workdir: Path, base_url: str, chroma_port: int | None):
    from assistant.settings import Settings

    return Settings(
        _env_file=None,
        corpus_dir=workdir / "corpus",
        index_dir=workdir / "index",
        review_db=workdir / "reviews.sqlite",
        embedding_provider="openai",
        embedding_model="fake-embed",
        embedding_base_url=base_url,
        embedding_dimensions=DIMENSIONS,
        embedding_batch_size=64,
        write_questions=False,
        chroma_host="127.0.0.1" if chroma_port else None,
        chroma_port=chroma_port or 8000,
    )


def measure_ingest(size: int, settings) -> dict:
    """Cold ingest, re-ingest of the unchanged corpus, then of the corpus with one document rewritten."""
    from assistant.index.ingest import ingest

    write_corpus(settings.corpus_dir, size)
    started = time.perf_counter()
    report = ingest(settings)
    cold = time.perf_counter() - started
    unchanged = ingest(settings)
    assert unchanged.build_id is None, "an unchanged corpus made a new build"
    write_document(settings.corpus_dir, 0, source_units(), random.Random("changed"), note="（修订）")
    changed = ingest(settings)
    assert [f.status for f in changed.files].count("changed") == 1
    return {
        "chunks": report.chunks,
        "documents": len(report.files),
        "ingest_s": round(cold, 1),
        "ingest_chunks_per_s": round(report.chunks / cold, 1),
        "reingest_unchanged_s": round(unchanged.seconds, 2),
        "reingest_one_changed_s": round(changed.seconds, 2),
        "one_changed_embedded": changed.embedded,
        "ingest_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def measure_app(settings) -> dict:
    """The app as a replica runs it, in this fresh process: open the index, answer, and its peak memory."""
    from assistant.service.service import Service

    service = Service(settings)
    service.search("电子保函", 5)  # opens the index, BM25 and Chroma
    ready = time.time()
    search_ms, ask_ms = [], []
    for question in questions():
        started = time.perf_counter()
        service.search(question, 5)
        search_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        service.ask(question, mode="extractive")
        ask_ms.append((time.perf_counter() - started) * 1000)
    return {
        "ready_at": ready,
        "search_p50_ms": round(statistics.median(search_ms), 1),
        "search_p95_ms": round(percentile(search_ms, 0.95), 1),
        "search_p99_ms": round(percentile(search_ms, 0.99), 1),
        "ask_p50_ms": round(statistics.median(ask_ms), 1),
        "ask_p95_ms": round(percentile(ask_ms, 0.95), 1),
        "app_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


class ChromaServer:
    """`chroma run` on a free local port with its data in `folder`, as a deployment would run it."""

    def __init__(self, folder: Path) -> None:
        from conftest import free_port

        self.port = free_port()
        chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        self.log = folder.with_suffix(".log")
        self.folder = folder
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, settings) -> None:
        from assistant.index.store import chroma_client

        deadline = time.monotonic() + 60
        while True:
            try:
                chroma_client(settings).heartbeat()
                return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start: " + self.log.read_text()) from None
                time.sleep(0.3)

    def peak_rss_mb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return round(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def folder_mb(folder: Path, skip: str = "") -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != skip) / 1e6 if folder.exists() else 0.0


def child(*args: str) -> dict:
    """Run this script as a fresh process with `args`; its last line of output is its figures."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=os.environ | {"GRADIO_ANALYTICS_ENABLED": "False"}
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(size: int, mode: str, base_url: str) -> dict:
    """One size in one Chroma mode: the ingests in a child process, then the app in a fresh one."""
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        server = ChromaServer(workdir / "server-data") if mode == "server" else None
        port = server.port if server else 0
        try:
            if server:
                server.wait(settings_for(workdir, base_url, port))
            row = {"mode": mode, **child("--ingest", str(size), "--workdir", folder, "--base-url", base_url, "--port", str(port))}
            started = time.time()
            app = child("--app", "--workdir", folder, "--base-url", base_url, "--port", str(port))
            row["app_start_s"] = round(app.pop("ready_at") - started, 2)
            row |= app
            row["index_mb"] = round(folder_mb(workdir / "index", skip="embeddings.sqlite") + folder_mb(workdir / "server-data"), 1)
            row["chroma_server_peak_rss_mb"] = server.peak_rss_mb() if server else 0
            row["load_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: how busy it was
        finally:
            if server:
                server.stop()
    return row


COLUMNS = {
    "mode": "Chroma",
    "chunks": "chunks",
    "ingest_s": "ingest s",
    "ingest_chunks_per_s": "chunks/s",
    "reingest_unchanged_s": "re-ingest unchanged s",
    "reingest_one_changed_s": "one doc changed s",
    "app_start_s": "app start s",
    "search_p50_ms": "search p50 ms",
    "search_p95_ms": "p95",
    "search_p99_ms": "p99",
    "ask_p50_ms": "ask p50 ms",
    "ask_p95_ms": "p95",
    "app_peak_rss_mb": "app MB",
    "ingest_peak_rss_mb": "ingest MB",
    "chroma_server_peak_rss_mb": "server MB",
    "index_mb": "index MB",
    "load_1m": "load",
}


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Latency and memory against corpus size, one line per Chroma mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, style in zip(MODES, ("-o", "--s")):
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["chunks"])
        if not mine:
            continue
        chunks = [r["chunks"] for r in mine]
        latency.plot(chunks, [r["search_p95_ms"] for r in mine], style, label=f"hybrid search p95, {mode}")
        latency.plot(chunks, [r["ask_p95_ms"] for r in mine], style, label=f"extractive ask p95, {mode}")
        memory.plot(chunks, [r["app_peak_rss_mb"] for r in mine], style, label=f"app peak, {mode}")
        memory.plot(chunks, [r["ingest_peak_rss_mb"] for r in mine], style, label=f"ingest peak, {mode}")
        if mode == "server":
            memory.plot(chunks, [r["chroma_server_peak_rss_mb"] for r in mine], style, label="chroma run peak")
    for axes, title, unit in ((latency, "latency", "ms"), (memory, "memory (RSS)", "MB")):
        axes.set_xscale("log")
        axes.set_xlabel("chunks")
        axes.set_ylabel(unit)
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle(f"benchmarks/scale.py, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--plot", type=Path, help="write the plot here (default: docs/scale.png when 100000 is among the sizes)")
    parser.add_argument(
        "--rows", type=Path, nargs="*", help="print the table (and --plot) from rows saved by earlier runs, one JSON a line"
    )
    # The child processes.
    parser.add_argument("--ingest", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.ingest or options.app:
        settings = settings_for(options.workdir, options.base_url, options.port)
        print(json.dumps(measure_ingest(options.ingest, settings) if options.ingest else measure_app(settings)))
        return
    if options.rows:  # only the table and plot, from the rows of earlier runs
        rows = [json.loads(line) for path in options.rows for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        report(rows, options.plot)
        return
    from fake_embeddings import FakeEmbeddingsServer

    # The package's bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE set, every app start
    # would otherwise compile the package's modules again.
    compileall.compile_dir(ROOT / "assistant", quiet=1)
    sizes = [int(s) for s in options.sizes.split(",")]
    server = FakeEmbeddingsServer(dimensions=DIMENSIONS).start()
    rows = []
    started = time.perf_counter()
    try:
        for size in sizes:
            for mode in options.modes.split(","):
                rows.append(measure(size, mode, server.base_url))
                # Each row as soon as it is measured: a long run cut short keeps what it measured.
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                print(f"measured {size} chunks, {mode} ({time.perf_counter() - started:.0f} s so far)", file=sys.stderr, flush=True)
    finally:
        server.stop()
    print(f"total {time.perf_counter() - started:.0f} s")
    report(rows, options.plot or (ROOT / "docs" / "scale.png" if 100_000 in sizes else None))


def report(rows: list[dict], plot_path: Path | None) -> None:
    print(
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, local deterministic embeddings ({DIMENSIONS} dimensions), {QUESTIONS} questions"
    )
    print(table(rows))
    if plot_path:
        plot(rows, plot_path)
        print(f"plot: {plot_path}")


if __name__ == "__main__":
    main()
