"""OCR benchmark: how fast and how well scanned documents are read, on this machine.

1. The resolution: the plan's three test pages (a notice under a red masthead with a seal, a clean page, a page
   turned 2°) rendered at each dpi and OCR'd without the cache: seconds per page and character accuracy
   (1 − edit distance / length) against the text the pages were drawn from.
2. OCR throughput: a sample of the plan's pages read without the cache, in pages/s.
3. A scan of N pages (the whole plan, and another document's pages to reach N) ingested into an empty index
   (OCR, chunking, embedding), then rebuilt with the OCR cache.
4. The gold questions about the plan (eval/gold.jsonl) answered (extractive) from the corpus with the plan as
   written and with the plan as OCR'd from its scan: key-fact accuracy of each.

    .venv/bin/python benchmarks/ocr.py [--dpis 100,150,200] [--sample 5] [--pages 20] [--skip-gold]

Everything runs in a temporary folder; the project's index/ is not touched.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the scanned-page builders the tests use

from scans import ScannedPage, character_accuracy, lay_out, make_scanned_pdf, plan_paragraphs, plan_scan, whole_plan_scan  # noqa: E402

from assistant.documents.loaders import LoadOptions, load_file  # noqa: E402
from assistant.evaluation.metrics import load_gold  # noqa: E402
from assistant.index.ingest import ingest  # noqa: E402
from assistant.service.service import Service  # noqa: E402
from assistant.settings import Settings  # noqa: E402

CORPUS = ROOT / "corpus"
PLAN = "广元市2025年对标改革打造最优营商环境五大专项行动方案.md"
FILLER = "公平竞争审查条例.md"
GOLD = ROOT / "eval" / "gold.jsonl"
SEED_CACHE = ROOT / ".pytest_cache" / "embeddings.sqlite"
OCR_CACHE: Path | None = None  # --ocr-cache: keep the OCR results between runs


def page_texts(doc) -> dict[int, str]:
    starts = [start for start, _ in doc.pages] + [len(doc.text)]
    return {number: doc.text[starts[i] : starts[i + 1]] for i, (_, number) in enumerate(doc.pages)}


def measure_dpi(workdir: Path, dpis: list[int]) -> None:
    pages = plan_scan(CORPUS / PLAN)
    pdf = make_scanned_pdf(workdir / "三页.pdf", pages)
    print("resolution (3 pages: masthead + seal, clean, turned 2°; no cache)")
    print(f"{'dpi':>5} {'s/page':>7} {'p1 seal':>8} {'p2 clean':>9} {'p3 2°':>7}")
    for dpi in dpis:
        started = time.perf_counter()
        doc = load_file(pdf, LoadOptions(ocr_dpi=dpi, ocr_cache=None))
        per_page = (time.perf_counter() - started) / len(pages)
        texts = page_texts(doc)
        scores = [character_accuracy(texts.get(n, ""), pages[n - 1].text) for n in (1, 2, 3)]
        print(f"{dpi:>5} {per_page:>7.2f} " + " ".join(f"{s:>8.2%}" for s in scores))


def scan_of(workdir: Path, count: int) -> Path:
    pages = whole_plan_scan(CORPUS / PLAN)
    filler = lay_out(plan_paragraphs(CORPUS / FILLER))
    pages += [ScannedPage(lines, page_label=f"- {len(pages) + i + 1} -") for i, lines in enumerate(filler)]
    return make_scanned_pdf(workdir / "扫描件.pdf", pages[:count])


def settings_for(workdir: Path, name: str, corpus: Path) -> Settings:
    # One embedding cache for every index of the run, seeded from the tests' cache when there is one: the
    # comparison of answers does not need to re-embed the unchanged documents. One OCR cache too.
    return Settings(
        _env_file=None,
        corpus_dir=corpus,
        index_dir=workdir / name / "index",
        embedding_cache=workdir / "embeddings.sqlite",
        ocr_cache=OCR_CACHE or workdir / "ocr.sqlite",
    )


def measure_throughput(workdir: Path, sample: int) -> None:
    """OCR alone (render, recognise, rebuild the lines), on the first pages of the scan, without the cache."""
    pages = whole_plan_scan(CORPUS / PLAN)[1 : sample + 1]
    pdf = make_scanned_pdf(workdir / "样本.pdf", pages)
    started = time.perf_counter()
    load_file(pdf, LoadOptions(ocr_dpi=Settings.model_fields["ocr_dpi"].default, ocr_cache=None))
    seconds = time.perf_counter() - started
    print(
        f"\nOCR throughput     : {sample / seconds:.2f} pages/s ({seconds / sample:.2f} s/page) on {os.cpu_count()} cores, {sample} pages"
    )


def measure_ingest(workdir: Path, count: int) -> None:
    """A scan of `count` pages ingested into an empty index: OCR in the worker process, chunking, embedding."""
    corpus = workdir / "scan-corpus"
    corpus.mkdir()
    scan_of(corpus, count)
    settings = settings_for(workdir, "scan", corpus)
    report = ingest(settings)
    [entry] = report.files
    if entry.status != "added":
        raise SystemExit(f"the scan was not ingested: {entry.message}")
    rebuilt = ingest(settings, rebuild=True)
    print(f"{count}-page scan, {settings.ocr_dpi} dpi, ingested into an empty index ({entry.chunks} chunks, {report.embedded} embedded)")
    print(f"ingest, cold       : {report.seconds:.1f} s = {count / report.seconds:.2f} pages/s end to end")
    print(f"ingest, OCR cached : {rebuilt.seconds:.1f} s (rebuild: every page read again from the OCR cache)")
    if entry.message:
        print(f"report             : {entry.message}")


def answer_gold(settings: Settings, items) -> float:
    ingest(settings)
    service = Service(settings)
    correct = 0
    for item in items:
        answer = service.ask(item.question, mode="extractive")
        correct += not answer.refused and not item.missing_facts(answer.answer)
    return correct / len(items)


def measure_key_facts(workdir: Path) -> None:
    items = [item for item in load_gold(GOLD) if item.answerable and item.gold and {g.file for g in item.gold} == {PLAN}]
    original = workdir / "original"
    shutil.copytree(CORPUS, original)
    scanned = workdir / "scanned"
    shutil.copytree(CORPUS, scanned)
    (scanned / PLAN).unlink()
    # The same name but .pdf: the plan's attached questions (questions/<name>.jsonl) serve the scan too.
    make_scanned_pdf(scanned / Path(PLAN).with_suffix(".pdf"), whole_plan_scan(CORPUS / PLAN))
    original_accuracy = answer_gold(settings_for(workdir, "original", original), items)
    scanned_accuracy = answer_gold(settings_for(workdir, "scanned", scanned), items)
    print(f"\nkey facts, {len(items)} gold questions about the plan (extractive answers, the whole corpus)")
    print(f"plan as written : {original_accuracy:.1%}")
    print(f"plan as scanned : {scanned_accuracy:.1%}")
    print(f"difference      : {(scanned_accuracy - original_accuracy) * 100:+.1f} points")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dpis", default="100,150,200", help="comma-separated resolutions to compare (empty: skip)")
    parser.add_argument("--pages", type=int, default=20, help="pages of the scan to ingest")
    parser.add_argument("--sample", type=int, default=5, help="pages OCR'd without the cache for the throughput")
    parser.add_argument("--ocr-cache", type=Path, help="an OCR cache kept between runs (default: a new one)")
    parser.add_argument("--skip-gold", action="store_true", help="leave out the key-fact comparison")
    args = parser.parse_args()
    global OCR_CACHE
    OCR_CACHE = args.ocr_cache
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.dpis:
            measure_dpi(workdir, [int(d) for d in args.dpis.split(",")])
        if SEED_CACHE.exists():
            shutil.copyfile(SEED_CACHE, workdir / "embeddings.sqlite")
        if args.sample:
            measure_throughput(workdir, args.sample)
        if args.pages:
            measure_ingest(workdir, args.pages)
        if not args.skip_gold:
            measure_key_facts(workdir)


if __name__ == "__main__":
    main()
