"""A chunk's sentences: where each one starts and ends, and which of them state something on their own.

Both search and answers read passages sentence by sentence: the index embeds each stating sentence as an extra
search key of its passage (a question about one sentence of a long measure finds it), and the extractive answerer
quotes them. They split alike, so a sentence's vector, embedded once, serves both.
"""

from assistant.documents.chunking import SENTENCE, Chunk
from assistant.documents.structure import SENTENCE_END, detect_heading
from assistant.vocabulary import DUTY_LINE, NOTICE_FRAME

CLAUSE_MARKS = SENTENCE_END + "，,：:"


def sentence_bounds(chunk: Chunk) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `chunk.text`; a 责任单位 line stays whole although it contains a `；`."""
    bounds: list[tuple[int, int]] = []
    offset = 0
    for line in chunk.text.split("\n"):
        stripped = line.strip()
        lead = offset + len(line) - len(line.lstrip())
        if DUTY_LINE.match(stripped):
            bounds.append((lead, lead + len(stripped)))
        elif stripped:
            for match in SENTENCE.finditer(line):
                piece = match.group(0)
                if piece.strip():
                    start = offset + match.start() + len(piece) - len(piece.lstrip())
                    bounds.append((start, start + len(piece.strip())))
        offset += len(line) + 1
    return bounds


def says_little(text: str, opens_chunk: bool) -> bool:
    """Headings, and lines without any punctuation (letterheads, titles, signatures, dates) support nothing alone."""
    heading = detect_heading(text)
    # "（五）降低招投标交易成本。" opening a measure is a title; "一、小微企业租用厂房的，按实际租金给予补贴。"
    # is a clause, and so is "（二）工业用地五十年；" inside an article: an item, not a heading.
    if heading is not None and opens_chunk and len(text) <= len(heading.label) + 2 and "，" not in text:
        return True
    return not any(mark in text for mark in CLAUSE_MARKS)


def is_statement(text: str, opens_chunk: bool) -> bool:
    """A sentence that can answer a question by itself: neither a heading, nor a 责任单位 line (the answerer adds
    that line where the question asks who is responsible), nor the frame of a notice (its recipients, "现印发给你们")."""
    return not says_little(text, opens_chunk) and not DUTY_LINE.match(text) and not NOTICE_FRAME.search(text)


def statements(chunk: Chunk) -> list[str]:
    """The chunk's stating sentences, in order: the texts search embeds as extra keys of the chunk."""
    return [chunk.text[start:end] for start, end in sentence_bounds(chunk) if is_statement(chunk.text[start:end], start == 0)]
