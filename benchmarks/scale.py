"""How the assistant grows with the library: synthetic corpora of N chunks built from the real documents, each
measured for ingest throughput, hybrid search and extractive `ask` latency, index open time, memory and index size.

    python benchmarks/scale.py --sizes 1000,10000            # a few minutes on 2 cores
    python benchmarks/scale.py --sizes 1000,10000,100000     # the 100k point takes much longer

The documents are the shipped corpus's measures and articles, recombined: each synthetic document draws ten of
them at random and gives them a title and 文号 of its own, so that texts are distinct. They are embedded through
the `openai` provider by a local embeddings server with deterministic vectors (tests/fake_embeddings.py), so that
the run measures the assistant, not the embedding model (whose own speed is in `benchmarks/ingest_and_search.py`).
Everything runs in a temporary folder, each size in a fresh process (peak memory is per size); nothing is
downloaded and nothing leaves the machine.
"""

import argparse
import json
import os
import random
import resource
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
QUESTIONS = [
    "我们是小微企业，用电接入要自己出钱吗？",
    "电子保函的费率最高是多少？",
    "失业保险金最长可以领多久？",
    "企业研发费用加计扣除的比例是多少？",
    "小型微利企业的条件是什么？",
    "政府部门买了我的东西，最迟多少天要付款？",
    "公司不开了，简易注销要公示多少天？",
    "职业中介可以收押金吗？",
]


def source_units() -> list[str]:
    """The measures and articles of the shipped corpus, as chunked for the index."""
    from assistant.documents.chunking import chunk_document
    from assistant.documents.loaders import load_file

    units = []
    for path in sorted((ROOT / "corpus").glob("*.md")):
        units += [f"{c.section.split(' > ')[-1]}\n{c.text}" for c in chunk_document(load_file(path), path.name, 500)]
    return units


def write_corpus(folder: Path, chunks: int) -> None:
    units = source_units()
    rng = random.Random(chunks)
    folder.mkdir(parents=True)
    for n in range(max(1, chunks // PER_DOCUMENT)):
        body = "\n\n".join(rng.sample(units, PER_DOCUMENT))
        header = f"---\ntitle: 政策汇编第{n + 1}号\ndoc_number: 汇编〔2026〕{n + 1}号\ndate: 2026-01-01\n---\n"
        (folder / f"汇编{n + 1:06d}.md").write_text(f"{header}# 政策汇编第{n + 1}号\n\n{body}\n", encoding="utf-8")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(size: int, base_url: str, workdir: Path) -> dict:
    """One size, in this process: build, ingest, open, search, ask. Returns the figures."""
    from assistant.service.service import Service
    from assistant.settings import Settings

    corpus = workdir / "corpus"
    write_corpus(corpus, size)
    settings = Settings(
        _env_file=None,
        corpus_dir=corpus,
        index_dir=workdir / "index",
        review_db=workdir / "reviews.sqlite",
        embedding_provider="openai",
        embedding_model="fake-embed",
        embedding_base_url=base_url,
        embedding_dimensions=256,
        embedding_batch_size=64,
        write_questions=False,
    )
    started = time.perf_counter()
    report = Service(settings).ingest()
    ingest_seconds = time.perf_counter() - started
    unchanged = Service(settings).ingest().seconds
    started = time.perf_counter()
    service = Service(settings)
    service.reload()
    service.search("电子保函", 5)  # the first search opens Chroma
    open_seconds = time.perf_counter() - started
    search_ms, ask_ms = [], []
    for _ in range(3):
        for question in QUESTIONS:
            started = time.perf_counter()
            service.search(question, 5)
            search_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            service.ask(question, mode="extractive")
            ask_ms.append((time.perf_counter() - started) * 1000)
    size_mb = sum(p.stat().st_size for p in (workdir / "index").rglob("*") if p.is_file() and p.name != "embeddings.sqlite") / 1e6
    return {
        "chunks": report.chunks,
        "documents": sum(1 for f in report.files if f.status == "added"),
        "ingest_s": round(ingest_seconds, 1),
        "ingest_chunks_per_s": round(report.chunks / ingest_seconds, 1),
        "reingest_unchanged_s": round(unchanged, 2),
        "open_s": round(open_seconds, 2),
        "search_p50_ms": round(statistics.median(search_ms), 1),
        "search_p95_ms": round(percentile(search_ms, 0.95), 1),
        "search_p99_ms": round(percentile(search_ms, 0.99), 1),
        "ask_p50_ms": round(statistics.median(ask_ms), 1),
        "ask_p95_ms": round(percentile(ask_ms, 0.95), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "index_mb": round(size_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process measuring one size
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(measure(options.one, options.base_url, Path(folder))))
        return
    from fake_embeddings import FakeEmbeddingsServer

    server = FakeEmbeddingsServer(dimensions=256).start()
    rows = []
    try:
        for size in (int(s) for s in options.sizes.split(",")):
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--base-url", server.base_url],
                capture_output=True,
                text=True,
                env=os.environ | {"GRADIO_ANALYTICS_ENABLED": "False"},
            )
            if done.returncode != 0:
                raise SystemExit(f"size {size} failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"measured {size} chunks", file=sys.stderr, flush=True)
    finally:
        server.stop()
    columns = list(rows[0])
    print(f"embedded Chroma, {os.cpu_count()} cores, local deterministic embeddings (256 dimensions)")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
