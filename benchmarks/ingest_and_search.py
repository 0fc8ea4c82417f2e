"""Ingestion throughput, search latency, index size and peak memory, measured on the real corpus.

    python benchmarks/ingest_and_search.py                      # cold and warm ingest, search latency
    python benchmarks/ingest_and_search.py --chunk-sizes 300,500,800   # also: retrieval quality per chunk size

Everything runs in a temporary index folder; the project's own index/ is not touched.
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluation.metrics import load_gold  # noqa: E402
from assistant.evaluation.reports import summaries_of  # noqa: E402
from assistant.evaluation.runs import run  # noqa: E402
from assistant.service.service import SEARCH_MODES as MODES  # noqa: E402
from assistant.service.service import Service  # noqa: E402
from assistant.settings import Settings  # noqa: E402

GOLD = ROOT / "eval" / "gold.jsonl"


def folder_size(folder: Path, skip: str = "embeddings.sqlite") -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != skip)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure_ingest(workdir: Path) -> Settings:
    settings = Settings(_env_file=None, corpus_dir=ROOT / "corpus", index_dir=workdir / "index")
    service = Service(settings)
    cold = service.ingest()
    print(
        f"ingest, cold cache : {cold.chunks} chunks in {cold.seconds:6.1f} s = {cold.chunks / cold.seconds:6.1f} chunks/s (embedded {cold.embedded})"
    )
    warm = service.ingest(rebuild=True)
    print(
        f"ingest, warm cache : {warm.chunks} chunks in {warm.seconds:6.1f} s = {warm.chunks / warm.seconds:6.1f} chunks/s (embedded {warm.embedded})"
    )
    noop = service.ingest()
    print(f"ingest, unchanged  : {noop.seconds:6.2f} s")
    index_mb = folder_size(settings.index_dir) / 1e6
    cache_mb = (settings.index_dir / "embeddings.sqlite").stat().st_size / 1e6
    print(f"index size on disk : {index_mb:.1f} MB (plus {cache_mb:.1f} MB embedding cache)")
    return settings


def measure_search(settings: Settings) -> None:
    started = time.perf_counter()
    service = Service(settings)
    service.reload()
    print(f"open index         : {(time.perf_counter() - started) * 1000:.0f} ms")
    questions = [item.question for item in load_gold(GOLD)]
    service.search(questions[0])  # warm-up
    for mode in MODES:
        times = []
        for question in questions:
            t = time.perf_counter()
            service.search(question, k=5, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        print(
            f"search {mode:<7}     : p50 {percentile(times, 50):6.1f} ms, p95 {percentile(times, 95):6.1f} ms over {len(times)} questions"
        )


def sweep_chunk_sizes(workdir: Path, sizes: list[int]) -> None:
    print("\nchunk size | chunks | hybrid hit@5 | hybrid MRR | bm25 hit@5 | dense hit@5")
    gold = load_gold(GOLD)
    for size in sizes:
        settings = Settings(
            _env_file=None,
            corpus_dir=ROOT / "corpus",
            index_dir=workdir / f"index-{size}",
            embedding_cache=workdir / "index" / "embeddings.sqlite",
            chunk_size=size,
        )
        service = Service(settings)
        service.ingest()
        r = summaries_of(run(service, gold, list(MODES), progress=False))
        print(
            f"{size:>10} | {len(service.kb.chunks):>6} | {r['hybrid']['hit@5']:12.3f} | {r['hybrid']['mrr']:10.3f} | {r['bm25']['hit@5']:10.3f} | {r['dense']['hit@5']:11.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk-sizes", help="comma-separated sizes to compare, e.g. 300,500,800")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        settings = measure_ingest(workdir)
        measure_search(settings)
        if args.chunk_sizes:
            sweep_chunk_sizes(workdir, [int(s) for s in args.chunk_sizes.split(",")])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS)  : {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
