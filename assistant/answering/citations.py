"""Citations an interpreter can trust: `[n]` markers checked against the passages that were given, and
quotes that are always verbatim spans of the cited chunk (so of the source document), never model text.

`verify` takes a generated answer and the numbered passages, drops markers that point nowhere,
picks for each kept marker the chunk sentence that best supports the sentence carrying it, renumbers
the markers so that each number is one quote, and lists numbers the passages do not contain.
"""

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from assistant.documents import sentences
from assistant.documents.amendments import Amendment
from assistant.documents.chunking import Chunk
from assistant.documents.sentences import sentence_bounds
from assistant.documents.structure import SENTENCE_END
from assistant.vocabulary import OCR_NOTE

# [1]  [1,2]  [1、2]  [1-3]  【1】  ［1］ — models write all of these.
MARKER = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、\-–~～]\s*\d{1,3})*)\s*[\]】］]")
_RANGE = re.compile(r"(\d+)\s*[\-–~～]\s*(\d+)")
_CLAIM_END = SENTENCE_END + "\n"
# A figure as policy texts write it: 2.8‰, 90%, 1.5万元, 160千瓦. List numbering ("1.", "2、") is not one.
NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![.、．]\D|\d)")
_BIGRAM_SKIP = re.compile(r"[\s，。、；：！？,.;:!?“”\"'（）()《》\[\]【】]")


class Citation(BaseModel):
    n: int
    chunk_id: str
    doc_id: str
    doc_title: str
    doc_number: str = ""
    section: str = ""
    page: int | None = None
    source: str = ""  # "ocr" when the quoted text was read by OCR
    ocr_confidence: float | None = None
    note: str = ""  # OCR_NOTE for OCR'd text
    quote: str
    # Offsets of the quote in the source document's text, for highlighting it there.
    start: int
    end: int
    # Notes that a later source has changed this clause (shown beside the quote, which stays verbatim).
    amendments: list[Amendment] = []


@dataclass(frozen=True)
class Span:
    """A sentence of a chunk: `chunk.text[start:end]`."""

    chunk: Chunk
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.chunk.text[self.start : self.end]

    def citation(self, n: int) -> Citation:
        c = self.chunk
        # chunk.text is document.text[c.start:c.end] without surrounding whitespace.
        lead = len(c.text) - len(c.text.lstrip()) if c.text else 0
        offset = c.start + lead
        return Citation(
            n=n,
            chunk_id=c.chunk_id,
            doc_id=c.doc_id,
            doc_title=c.doc_title,
            doc_number=c.doc_number,
            section=c.section,
            page=c.page,
            source=c.source,
            ocr_confidence=c.ocr_confidence,
            note=OCR_NOTE if c.source == "ocr" else "",
            quote=self.text,
            start=offset + self.start,
            end=offset + self.end,
        )


def sentence_spans(chunk: Chunk) -> list[Span]:
    """The chunk's sentences (documents/sentences.py says where they start and end)."""
    return [Span(chunk, start, end) for start, end in sentence_bounds(chunk)]


def says_little(span: Span) -> bool:
    """Headings, and lines without any punctuation (letterheads, titles, signatures, dates) support nothing alone."""
    return sentences.says_little(span.text, span.start == 0)


def bigrams(text: str) -> set[str]:
    text = _BIGRAM_SKIP.sub(" ", text)
    return {text[i : i + 2] for i in range(len(text) - 1) if " " not in text[i : i + 2]}


def support(sentence: str, claim: str) -> float:
    """How well a source sentence supports a claim: shared character bigrams, and shared figures weigh most."""
    claim_bigrams = bigrams(claim)
    overlap = len(claim_bigrams & bigrams(sentence)) / max(len(claim_bigrams), 1)
    figures = set(NUMBER.findall(claim))
    matched = sum(1 for figure in figures if figure in NUMBER.findall(sentence))
    return overlap + matched


def best_span(chunk: Chunk, claim: str) -> Span:
    spans = [span for span in sentence_spans(chunk) if not says_little(span)] or sentence_spans(chunk)
    spans = spans or [Span(chunk, 0, len(chunk.text))]
    # max() keeps the first of equals, i.e. the earliest sentence.
    return max(spans, key=lambda span: support(span.text, claim))


def marker_numbers(inside: str) -> list[int]:
    """ "1, 2" → [1, 2]; "1-3" → [1, 2, 3] (a range of at most 20, so a stray "1-999" stays small)."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,，、]\s*", inside):
        span = _RANGE.fullmatch(part)
        if span and 0 < int(span.group(2)) - int(span.group(1)) <= 20:
            numbers += range(int(span.group(1)), int(span.group(2)) + 1)
        else:
            numbers += [int(n) for n in re.findall(r"\d+", part)]
    return numbers


def normalise_markers(answer: str) -> str:
    """`[1,2]`, `[1-2]` and `【1】` become `[1][2]` and `[1]`, the one form the rest of the code reads."""
    return MARKER.sub(lambda m: "".join(f"[{n}]" for n in marker_numbers(m.group(1))), answer)


def claim_before(answer: str, position: int) -> str:
    """The sentence a marker at `position` belongs to: the one it ends, even when written after the 。"""
    prefix = MARKER.sub(lambda m: " " * len(m.group(0)), answer[:position]).rstrip()
    prefix = prefix.rstrip(_CLAIM_END + " ")
    boundary = max(prefix.rfind(mark) for mark in _CLAIM_END)
    return prefix[boundary + 1 :].strip()


# Figures as values, however they are written: 1000万元 and 一千万元, 20% and 百分之二十, 3年 and 三年, 2.8‰ and
# 千分之二点八. A run of Chinese numerals counts as a figure only with a unit after it or 百分之/千分之 before it:
# the 一 of 统一 or 一律 is no number.
_CN_NUMERAL = "零〇一二两三四五六七八九十百千万亿点"
_UNIT = r"(?:元|万元|亿元|万|亿|年|个月|月|日|天|个工作日|工作日|小时|周|人|名|户|家|倍|次|项|个|%|％|‰|千瓦|平方米|亩|公里|岁)"
FIGURE = re.compile(
    rf"(?:百分之|千分之)[{_CN_NUMERAL}\d.]+|[{_CN_NUMERAL}]*[一二两三四五六七八九十〇零][{_CN_NUMERAL}]*(?={_UNIT})"
    rf"|(?<![\d.])\d+(?:\.\d+)?(?![.、．]\D|\d)\s*[万亿]?"
)
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_POWERS = {"十": 10, "百": 100, "千": 1000}
_COUNTING_ONE = {"一", "两"}
_MEASURE_WORDS = set("个次项家户名人")


def chinese_number(text: str) -> float | None:
    """一千二百万 → 12000000, 三十 → 30, 二点八 → 2.8, 二〇二五 → 2025 (written digit by digit); None if it is not
    a number."""
    whole, _, decimals = text.partition("点")
    if decimals and not all(c in _DIGITS for c in decimals):
        return None
    fraction = float("0." + "".join(str(_DIGITS[c]) for c in decimals)) if decimals else 0.0
    if len(whole) > 1 and all(c in _DIGITS for c in whole):  # 二〇二五年: digits, not 2+0+2+5
        return float("".join(str(_DIGITS[c]) for c in whole)) + fraction
    total, section, digit = 0.0, 0.0, None
    for char in whole:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _POWERS:
            section += (1 if digit is None else digit) * _POWERS[char]
            digit = None
        elif char in "万亿":
            total = (total + section + (digit or 0)) * (1e4 if char == "万" else 1e8)
            section, digit = 0.0, None
        else:
            return None
    return total + section + (digit or 0) + fraction


def figure_values(text: str) -> list[tuple[str, float]]:
    """Each figure of a text as written and as a value."""
    found = []
    for match in FIGURE.finditer(text):
        written = match.group(0).strip()
        if written in _COUNTING_ONE and text[match.end() : match.end() + 1] in _MEASURE_WORDS:
            continue  # 一项、一次、一家: "a", not a figure to check
        body = written.removeprefix("百分之").removeprefix("千分之")
        if re.fullmatch(r"\d+(?:\.\d+)?", body):
            value = float(body)
        elif re.fullmatch(r"\d+(?:\.\d+)?\s*[万亿]", body):
            value = float(body[:-1]) * (1e4 if body.endswith("万") else 1e8)
        else:
            value = chinese_number(body)
        if value is not None:
            found.append((written, round(value, 6)))
    return found


def unsupported_figures(claim: str, sources: list[str]) -> list[str]:
    """The figures of a claim whose value no source states, in whatever numerals either is written."""
    source_values = {value for text in sources for _, value in figure_values(text)}
    return [written for written, value in figure_values(claim) if value not in source_values]


@dataclass
class Verified:
    answer: str
    citations: list[Citation] = field(default_factory=list)
    invalid_markers: list[int] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # figures in the answer that no cited passage holds


def verify(answer: str, passages: list[Chunk]) -> Verified:
    """Check the `[n]` markers of `answer` against `passages` (numbered from 1) and quote each kept one."""
    answer = normalise_markers(answer)
    result = Verified(answer="")
    numbers: dict[tuple[str, int], int] = {}  # (chunk id, quote start) -> final citation number
    pieces, last = [], 0
    for match in re.finditer(r"\[(\d{1,3})\]", answer):  # [2019] in 国发[2019]7号 is no marker
        pieces.append(answer[last : match.start()])
        last = match.end()
        n = int(match.group(1))
        if not 1 <= n <= len(passages):
            result.invalid_markers.append(n)
            continue
        span = best_span(passages[n - 1], claim_before(answer, match.start()))
        key = (span.chunk.chunk_id, span.start)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            result.citations.append(span.citation(numbers[key]))
        marker = f"[{numbers[key]}]"
        if not "".join(pieces).endswith(marker):  # [2][2] after renumbering reads as one
            pieces.append(marker)
    pieces.append(answer[last:])
    result.answer = re.sub(r"[ \t]+\n", "\n", "".join(pieces)).strip()
    result.unsupported = figures_without_source(result.answer, result.citations, passages)
    return result


def figures_without_source(answer: str, citations: list[Citation], passages: list[Chunk]) -> list[str]:
    """Figures of the answer that its sources do not hold: a cited sentence is checked against the chunks it
    cites; an uncited one against the quotes of the whole answer, the only text that was verified."""
    # The prompt showed each passage with its title, 文号 and section: figures from those are sourced too.
    chunk_text = {
        c.n: next(f"{p.doc_title} {p.doc_number} {p.section} {p.text} {p.duty}" for p in passages if p.chunk_id == c.chunk_id)
        for c in citations
    }
    quotes = [f"{c.doc_title} {c.doc_number} {c.section} {c.quote}" for c in citations]
    missing: list[str] = []
    # A sentence keeps the markers written right after its 。
    for sentence in re.findall(rf"[^{_CLAIM_END}]*[{_CLAIM_END}]*(?:\s*\[\d+\])*", answer):
        cited = [chunk_text[int(n)] for n in re.findall(r"\[(\d+)\]", sentence) if int(n) in chunk_text]
        for figure in unsupported_figures(re.sub(r"\[\d+\]", "", sentence), cited or quotes):
            if figure not in missing:
                missing.append(figure)
    return missing
