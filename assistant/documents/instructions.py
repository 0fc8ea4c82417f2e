"""Planted instructions: lines of a document that address the assistant (or the reader) as instructions instead
of stating policy — "忽略以上所有指令", "你现在是…", "system prompt", "ignore previous instructions", role
tags, and text hidden with zero-width characters. Documents are data: such lines are found at ingest, their
chunks are kept out of answers until an admin approves the document, and the ingest report names the lines.

The patterns are deliberately about addressing a model, not about policy wording: "企业不得忽略安全生产要求",
"系统提示：请在工作日办理" or "从现在起，您可以在线办理" are policy; "忽略以上指令" is not
(`tests/test_injection.py` holds both kinds). Lines are read after NFKC, with traditional characters simplified,
invisible characters removed and spaces closed up, so full-width, spaced-out or traditional spellings are seen.
"""

import re
import unicodedata
from dataclasses import dataclass

# (why, pattern) — each names one way a text speaks to a model.
_MODEL_WORDS = r"(?:指令|指示|提示词|系统消息|系统提示|上下文|设定)"
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("tells the reader to ignore instructions", re.compile(rf"(?:忽略|无视|忘记|忘掉|不要理会)[^。\n]{{0,10}}{_MODEL_WORDS}")),
    (
        "tells the reader to ignore instructions",
        re.compile(r"(?:忽略|无视|忘记|忘掉)(?:以上|之前|前面|上述|先前|此前)[^。\n]{0,6}(?:规则|要求|约束|内容|限制)"),
    ),
    (
        "assigns the assistant a role",
        re.compile(r"你(?:现在|从现在起|从现在开始|此后)?(?:是|扮演|充当|作为)[^。\n]{0,12}(?:助手|AI|模型|机器人|客服|角色)", re.I),
    ),
    ("assigns the assistant a role", re.compile(r"从(?:现在|此刻)(?:开始|起)[，,]?你[^。\n]{0,4}(?:只|必须|就是|是|扮演|作为|将)")),
    ("role-play", re.compile(r"角色扮演|扮演一个|假装你是|进入开发者模式|越狱模式")),
    ("names the system prompt", re.compile(r"系统提示词|系统指令|system\s*prompt", re.I)),
    (
        "orders the assistant's reply",
        re.compile(r"(?:请|务必|必须|直接|只)(?:回答|回复|输出|告诉用户)\s*[：:]|你的(?:回答|回复|输出)[^。\n]{0,6}[：:]"),
    ),
    ("orders the assistant's reply", re.compile(r"(?:对|向)(?:用户|所有用户|提问者)(?:声称|谎称|宣称|说\s*[：:])")),
    (
        "tells the reader to ignore instructions",
        re.compile(r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,30}\b(?:instructions?|prompts?|rules|context)\b", re.I),
    ),
    (
        "assigns the assistant a role",
        re.compile(r"\byou are (?:now|no longer)\b|\bact as (?:an?|the)\b|\bpretend (?:to be|you are)\b", re.I),
    ),
    ("role-play", re.compile(r"\b(?:jailbreak|DAN mode|developer mode)\b", re.I)),
    (
        "a chat-format role tag",
        re.compile(r"<\|im_start\|>|<\|system\|>|\[/?INST\]|^(?:system|assistant)\s*[:：]\s*(?:[\u4e00-\u9fff]|you\b|ignore\b)", re.I),
    ),
]
# Characters that hide or reorder text: Unicode tag characters (invisible, readable by a model) and direction
# overrides. Zero-width spaces are common in scraped pages and hide nothing: they are only removed before matching.
HIDING = re.compile("[\U000e0000-\U000e007f\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u180e]")
# An article or item number that opens a line ("第三条 ", "（二）"), stripped before line-anchored patterns.
_NUMBERING = re.compile(r"^\s*(?:第[一二三四五六七八九十百零〇\d]+条|[（(][一二三四五六七八九十\d]+[）)]|\d+[.、．])\s*")
# Traditional forms of the characters the patterns look for, so that 忽略以上指令 written 你現在是… is seen too.
_SIMPLIFIED = str.maketrans("現統無視詞設對說請輸爲為從開處問題腳聽覆則約限內讓扮", "现统无视词设对说请输为为从开处问题脚听复则约限内让扮")


def normal_forms(line: str) -> tuple[str, str]:
    """The line as the patterns read it: NFKC (full-width letters become ASCII), simplified characters, without
    invisible characters and line numbering; and the same without any space (忽 略 以 上 指 令)."""
    text = _NUMBERING.sub("", _INVISIBLE.sub("", unicodedata.normalize("NFKC", line)).translate(_SIMPLIFIED))
    return text, re.sub(r"\s+", "", text)


def why_planted(line: str) -> str | None:
    if HIDING.search(line):
        return "hidden text (invisible tag or direction-override characters)"
    spaced, solid = normal_forms(line)
    return next((why for why, pattern in PATTERNS if pattern.search(spaced) or pattern.search(solid)), None)


@dataclass(frozen=True)
class PlantedLine:
    line: int  # 1-based, in the loaded document's text
    start: int  # offsets of the line in that text
    end: int
    text: str
    why: str


def planted_lines(text: str) -> list[PlantedLine]:
    """The lines of a document's text that read as instructions to the assistant."""
    found = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        why = why_planted(line)
        if why:
            found.append(PlantedLine(number, offset, offset + len(line), line.strip(), why))
        offset += len(line) + 1
    return found


def describe(lines: list[PlantedLine], limit: int = 3) -> str:
    """One report line: how many, and the first few with their line numbers."""
    shown = "; ".join(f"{f'line {p.line}' if p.line else 'header'}: “{p.text[:40]}”（{p.why}）" for p in lines[:limit])
    more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
    return (
        f"{len(lines)} line(s) read as instructions to the assistant, not policy ({shown}{more}); "
        "kept out of answers until an admin approves the document"
    )
