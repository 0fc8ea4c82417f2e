"""Shared fixtures: the full-corpus index is built once per test session, with the real components."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.documents.chunking import Chunk, chunk_document
from assistant.documents.loaders import load_file
from assistant.index.ingest import ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
PLAN = "广元市2025年对标改革打造最优营商环境五大专项行动方案.md"
# Kept between runs so that a second local run re-embeds nothing; CI starts without it.
EMBEDDING_CACHE = ROOT / ".pytest_cache" / "embeddings.sqlite"
# OCR results by page hash, kept the same way: a second run OCRs no page it has read before.
OCR_CACHE = ROOT / ".pytest_cache" / "ocr.sqlite"


# Fixtures that build or open the full-corpus index (about two minutes on a cold embedding cache): a test that
# uses one belongs to the slow tier, as do the modules that start an app server, a Chroma server or a browser.
FULL_INDEX_FIXTURES = {"corpus_settings", "kb"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if FULL_INDEX_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch):
    """Tests build their settings explicitly; a developer's POLICY_QA_* variables or key must not leak in."""
    for name in list(os.environ):
        if name.startswith("POLICY_QA_") or name == "DEEPSEEK_API_KEY":
            monkeypatch.delenv(name)


def process_env(settings, **overrides: str) -> dict[str, str]:
    """The environment of a child process configured only by `settings` and `overrides`, not the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_QA_") and k != "DEEPSEEK_API_KEY"}
    env.update(
        POLICY_QA_INDEX_DIR=str(settings.index_dir),
        POLICY_QA_CORPUS_DIR=str(settings.corpus_dir),
        POLICY_QA_EMBEDDING_CACHE=str(EMBEDDING_CACHE),
        POLICY_QA_OCR_CACHE=str(OCR_CACHE),
        POLICY_QA_REVIEW_DB=str(settings.review_db),
        **overrides,
    )
    return env


def run_cli(args, settings, stdin=None, **env_overrides):
    """`python -m assistant ARGS` in a fresh process, configured only by environment variables."""
    env = process_env(settings, **env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )


def section_texts(doc_id: str, chunks: list[Chunk] | None = None) -> dict[str, str]:
    """The text of each section of a shipped document, as chunking cuts it (a long section in several chunks);
    `chunks`, when the caller has chunked the document already."""
    texts: dict[str, str] = {}
    for chunk in chunks if chunks is not None else chunk_document(load_file(CORPUS / doc_id), doc_id, 500):
        texts[chunk.section] = texts.get(chunk.section, "") + chunk.text
    return texts


def make_settings(index_dir: Path, corpus_dir: Path = CORPUS, **overrides) -> Settings:
    EMBEDDING_CACHE.parent.mkdir(exist_ok=True)
    return Settings(
        _env_file=None,
        corpus_dir=corpus_dir,
        index_dir=index_dir,
        embedding_cache=overrides.pop("embedding_cache", EMBEDDING_CACHE),
        ocr_cache=overrides.pop("ocr_cache", OCR_CACHE),
        # Beside the index, never the project's data/ folder: verdicts of one test must not reach another run.
        review_db=overrides.pop("review_db", index_dir.with_name(index_dir.name + "-reviews.sqlite")),
        **overrides,
    )


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("corpus-index"))
    report = ingest(settings)
    assert report.ok and report.build_id
    return settings


@pytest.fixture(scope="session")
def kb(corpus_settings) -> KnowledgeBase:
    return KnowledgeBase(corpus_settings)


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """Three real documents: the Guangyuan plan and two short regulations."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in (PLAN, "公平竞争审查条例.md", "国务院关于实施公司法注册资本登记管理制度的规定.md"):
        shutil.copy(CORPUS / name, folder / name)
    return folder


# Debian's Chromium, driven by Playwright in the browser tests (installed by `make test`; no browser is downloaded).
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying Google's hosts on this closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def llm():
    """A real local server that speaks the OpenAI chat-completions protocol, scripted by each test (fake_llm.py)."""
    from fake_llm import FakeChatServer

    server = FakeChatServer().start()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_verbatim(answer) -> None:
    """Each quote is the document's own text at the offsets the citation gives (the loader's text, in
    which a paragraph broken across lines or pages is joined again)."""
    for citation in answer.citations:
        assert load_file(CORPUS / citation.doc_id).text[citation.start : citation.end] == citation.quote


class AppServer:
    """`python app.py` in its own process, configured by environment variables, on a free local port."""

    def __init__(self, settings: Settings, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = process_env(settings, POLICY_QA_PORT=str(self.port), **env)
        self.log = (settings.index_dir.parent / "app.log").open("w")
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=environment, stdout=self.log, stderr=self.log)

    def wait(self, seconds: float = 180) -> "AppServer":
        import time

        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.5)
        raise RuntimeError(f"app.py did not answer within {seconds}s; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def app_corpus(folder: Path) -> Settings:
    """A small corpus of its own (the plan and two regulations), indexed, for a server that may change it."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for name in (PLAN, "公平竞争审查条例.md", "失业保险条例.md"):
        shutil.copy(CORPUS / name, corpus / name)
    settings = make_settings(folder / "index", corpus)
    assert ingest(settings, progress=False).ok
    return settings
