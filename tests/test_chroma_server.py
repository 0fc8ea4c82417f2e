"""The index on a real Chroma server (`chroma run`), as a deployment past one machine uses it."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.index.ingest import ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.store import chroma_client, collection_names, sentence_vector_ids, vector_keys
from assistant.retrieval.hybrid import search
from assistant.service.service import Service
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
    assert kb.collection.count() == len(vector_keys(list(kb.chunks.values())))  # each chunk's vector and its sentences'
    for mode in ("dense", "hybrid"):
        hits = search(kb, "电子保函的费率最高是多少", k=5, mode=mode)
        assert any("保函费率不高于2.8‰" in h.chunk.text and h.chunk.doc_id == PLAN for h in hits), mode
    # On a server, a build with one changed document adds its vectors to the previous build's collection.
    changed = small_corpus / "公平竞争审查条例.md"
    changed.write_text(changed.read_text(encoding="utf-8").replace("第一条", "第一条（修改）", 1), encoding="utf-8")
    update = ingest(settings)
    assert update.reused > 50 and update.embedded < 10
    kb = KnowledgeBase(settings)
    assert kb.manifest.collection == f"policy-chunks-{report.build_id}"
    # The replaced vectors stay one more round (a replica may still read them); dense search returns only the live build's.
    query = kb.embedder.embed_query("公平竞争审查")
    hits = kb.dense_search(query, 30)
    assert hits and all(cid in kb.chunks for cid, _ in hits)
    # The changed article comes 6th when searched at once. Once, in a full `make test` on a loaded machine, it was
    # missing from the first 30 (not reproduced in a dozen runs since, loaded or not): the server may index an add
    # a moment after acknowledging it, so it is given a few seconds before the test calls it lost.
    deadline = time.monotonic() + 10
    while not any("（修改）" in kb.chunks[cid].text for cid, _ in hits) and time.monotonic() < deadline:
        time.sleep(0.5)
        hits = kb.dense_search(query, 30)
    assert any("（修改）" in kb.chunks[cid].text for cid, _ in hits)
    # Each build records the ids its collection holds (its own and those the previous build still reads), so the
    # next one never lists them; the record matches the collection, and the first build's replaced vectors are
    # gone once the build after next is made.
    changed.write_text(changed.read_text(encoding="utf-8").replace("第二条", "第二条（再改）", 1), encoding="utf-8")
    third = ingest(settings)
    kb = KnowledgeBase(settings)
    recorded = json.loads((settings.index_dir / "builds" / third.build_id / "vectors.json").read_text(encoding="utf-8"))
    own = sentence_vector_ids(recorded["chunks"], recorded["sentences"])  # each chunk's vector, then its sentences'
    assert recorded["others"] and not set(recorded["others"]) & set(own) and len(own) > len(recorded["chunks"])
    assert sorted(kb.collection.get(include=[])["ids"]) == sorted(own + recorded["others"])


def test_replicas_answer_alike_from_one_server_and_follow_a_new_build(tmp_path, small_corpus, chroma_server):
    """Two app replicas against one Chroma server: one reads the writer's index folder (shared storage), one a
    copy of it. Both answer alike; a new build reaches each once its manifest does."""
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    writer = make_settings(tmp_path / "index", small_corpus, **server)
    ingest(writer)
    copied = tmp_path / "replica-index"
    shutil.copytree(writer.index_dir, copied)
    replicas = [Service(writer), Service(make_settings(copied, small_corpus, **server))]
    question = "电子保函的费率最高是多少？"
    first, second = (replica.ask(question, mode="extractive") for replica in replicas)
    assert "2.8‰" in first.answer
    assert (first.answer, first.citations, first.retrieved) == (second.answer, second.citations, second.retrieved)

    plan = small_corpus / PLAN
    plan.write_text(plan.read_text(encoding="utf-8").replace("保持保函费率不高于2.8‰", "保持保函费率不高于2.5‰"), encoding="utf-8")
    ingest(writer)
    assert "2.5‰" in replicas[0].ask(question, mode="extractive").answer  # shared storage: the next request follows
    assert "2.8‰" in replicas[1].ask(question, mode="extractive").answer  # the copy still serves the previous build
    # Rolling the copy forward: the build folder first, the manifest (the switch) last.
    shutil.copytree(writer.index_dir / "builds", copied / "builds", dirs_exist_ok=True)
    shutil.copy(writer.index_dir / "manifest.json", copied / "manifest.json")
    assert "2.5‰" in replicas[1].ask(question, mode="extractive").answer
