"""The heading hierarchy of Chinese policy and law texts: which lines are headings, and how deep.

Policy documents number their parts `一、` > `（一）` > `1.`; laws use `第一章` > `第一节` > `第一条`.
Both loaders (to avoid gluing a heading onto the paragraph before it) and the chunker use this.
"""

import re
from dataclasses import dataclass

CN_NUM = "一二三四五六七八九十百零〇两"

# Ordered from the outermost level to the innermost one.
_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("chapter", re.compile(rf"^第[{CN_NUM}\d]+章")),
    ("section", re.compile(rf"^第[{CN_NUM}\d]+节")),
    ("part", re.compile(rf"^[{CN_NUM}]+、")),
    ("measure", re.compile(rf"^[（(][{CN_NUM}]+[）)]")),
    ("item", re.compile(r"^\d{1,2}[.．、](?!\d)")),
    ("article", re.compile(rf"^第[{CN_NUM}\d]+条")),
]
RANK = {kind: rank for rank, (kind, _) in enumerate(_PATTERNS)}

SENTENCE_END = "。！？；!?;"
# A paragraph ending in one of these is complete; anything else may have been cut by a page break.
PARAGRAPH_END = SENTENCE_END + "：:…”’」』）)】"


@dataclass(frozen=True)
class Heading:
    kind: str  # chapter | section | part | measure | item | article | markdown
    rank: int  # smaller is outer
    label: str  # what the section path shows, e.g. "（五）降低招投标交易成本" or "第十条"


def strip_markdown_heading(line: str) -> tuple[str, bool]:
    """Return the line without leading `#`s, and whether it had them."""
    stripped = line.lstrip()
    if stripped.startswith("#"):
        return stripped.lstrip("#").strip(), True
    return line.strip(), False


def detect_heading(line: str) -> Heading | None:
    """Classify one line; None when it is body text."""
    text, is_markdown = strip_markdown_heading(line)
    if not text:
        return None
    for kind, pattern in _PATTERNS:
        match = pattern.match(text)
        if match:
            return Heading(kind, RANK[kind], _label(kind, text, match.end()))
    if is_markdown:
        return Heading("markdown", -1, text)
    return None


def _label(kind: str, text: str, number_end: int) -> str:
    number = text[:number_end]
    if kind == "article":
        return number
    if kind == "measure":
        # Half-width brackets come from PDF extraction; show one style in section paths.
        number = number.replace("(", "（").replace(")", "）")
    title = text[number_end:].strip()
    # Inline headings carry their body after the first full stop: "（五）降低招投标交易成本。严格实行…"
    for stop in "。；;":
        if stop in title:
            title = title.split(stop, 1)[0]
    if kind in ("chapter", "section"):
        return f"{number} {title}".strip()
    return f"{number}{title[:40]}"


def is_heading(line: str) -> bool:
    return detect_heading(line) is not None
