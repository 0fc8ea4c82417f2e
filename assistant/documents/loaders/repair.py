"""Repair of text extracted from PDF, OCR and OFD: layout lines joined into paragraphs, and sentences that a
page break cut into two paragraphs joined again."""

import re
from dataclasses import dataclass

from assistant.documents.structure import PARAGRAPH_END, is_heading
from assistant.vocabulary import DUTY_LINE

# Prose has clause punctuation; titles, mastheads and dates have none and must stay on their own line.
_PROSE = re.compile(r"[，。；、,]")
# The cooperating units of a wrapped 责任单位 line fit on one more line; a longer paragraph is body text.
MAX_UNITS_CHARS = 80


def _is_duty_line(paragraph: str) -> bool:
    return bool(DUTY_LINE.match(paragraph))


def should_join(paragraph: str, following: str) -> bool:
    """A paragraph cut mid-sentence: prose that stops without final punctuation, before body text."""
    return (
        not paragraph.endswith(tuple(PARAGRAPH_END))
        and bool(_PROSE.search(paragraph))
        and not _is_duty_line(paragraph)
        and not is_heading(following)
        and not _is_duty_line(following)
    )


def continues_duty_line(paragraph: str, following: str) -> bool:
    """A 责任单位 line wrapped after its lead units: "责任单位：市司法局…；" then "市级有关部门（单位）", the
    cooperating units, alone as a short paragraph with no sentence in it."""
    return (
        _is_duty_line(paragraph)
        and paragraph.endswith(("；", ";", "、"))
        and len(following) <= MAX_UNITS_CHARS
        and not re.search(r"[。！？!?，,]", following)  # units are listed with 、 and ；, prose has commas
        and not is_heading(following)
        and not _is_duty_line(following)
    )


def join_broken_paragraphs(text: str) -> str:
    """Paragraphs are separated by blank lines; a cut paragraph is glued to the next without a space."""
    paragraphs = [p.strip() for p in re.split(r"\n[ \t\u3000]*\n", text) if p.strip()]
    merged: list[str] = []
    for paragraph in paragraphs:
        if merged and (should_join(merged[-1], paragraph) or continues_duty_line(merged[-1], paragraph)):
            merged[-1] = join_lines(merged[-1], paragraph)
        else:
            merged.append(paragraph)
    return "\n\n".join(merged)


def join_separator(left: str, right: str) -> str:
    """Chinese needs no space at a line join; Latin words and numbers do."""
    if left and right and left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return " "
    return ""


def join_lines(left: str, right: str) -> str:
    return left + join_separator(left, right) + right


@dataclass
class PageLine:
    """A line as laid out on a page; `full` when it runs to the right edge, so its paragraph may go on.
    `placed`: the line's position was known (OCR, OFD), so `full` also means the next line is not indented,
    and a full line ending in 。 goes on; from a PDF's text layer only the line lengths are known."""

    page: int
    text: str
    full: bool
    placed: bool = False


def ends_paragraph(line: PageLine, following: str) -> bool:
    if is_heading(following) or _is_duty_line(following) or not line.full:
        return True
    return not line.placed and line.text.endswith(tuple(PARAGRAPH_END))


def assemble(lines: list[PageLine]) -> tuple[str, list[tuple[int, int]]]:
    """The text with layout line breaks rejoined (also across pages), and (offset, page) for each page start."""
    text = ""
    pages: list[tuple[int, int]] = []
    previous: PageLine | None = None
    for line in lines:
        # A placed line that stops short mid-sentence (OCR cut the line's box, or the page ended) goes on as
        # the text loader's repair would have it: prose without final punctuation, before body text.
        paragraph = text[text.rfind("\n\n") + 2 :] if "\n\n" in text else text
        cut = previous is not None and (
            (previous.placed and should_join(paragraph, line.text)) or continues_duty_line(paragraph, line.text)
        )
        if previous and (cut or not ends_paragraph(previous, line.text)):
            text += join_separator(text, line.text)
        elif text:
            text += "\n\n"
        if not pages or pages[-1][1] != line.page:
            pages.append((len(text), line.page))
        text += line.text
        previous = line
    return text, pages
