"""The index on a real Chroma server (`chroma run`), as a deployment past one machine uses it."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.index.ingest import ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.store import chroma_client, collection_names
from assistant.retrieval.hybrid import search
from conftest import PLAN, free_port, make_settings

# A real server process (or a browser driving one): the slow tier.
pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    log = (tmp_path / "chroma.log").open("w")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    settings = make_settings(tmp_path / "index", chroma_host="127.0.0.1", chroma_port=port)
    deadline = time.monotonic() + 60
    while True:
        try:
            chroma_client(settings).heartbeat()
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chroma run did not start: " + (tmp_path / "chroma.log").read_text())
            time.sleep(0.3)
    yield port
    process.terminate()
    process.wait(timeout=20)


def test_ingest_and_search_through_a_chroma_server(tmp_path, small_corpus, chroma_server):
    settings = make_settings(tmp_path / "index", small_corpus, chroma_host="127.0.0.1", chroma_port=chroma_server)
    report = ingest(settings)
    assert report.ok and report.build_id
    assert not (settings.index_dir / "chroma").exists()  # nothing embedded locally: vectors live on the server
    kb = KnowledgeBase(settings)
    assert collection_names(chroma_client(settings)) == [kb.manifest.collection]
    assert kb.collection.count() == len(kb.chunks)
    for mode in ("dense", "hybrid"):
        hits = search(kb, "电子保函的费率最高是多少", k=5, mode=mode)
        assert any("保函费率不高于2.8‰" in h.chunk.text and h.chunk.doc_id == PLAN for h in hits), mode
