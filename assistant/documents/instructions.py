"""Planted instructions: lines of a document that address the assistant (or the reader) as instructions instead
of stating policy — "忽略以上所有指令", "你现在是…", "system prompt", "ignore previous instructions", role
tags, and text hidden with zero-width characters. Documents are data: such lines are found at ingest, their
chunks are kept out of answers until an admin approves the document, and the ingest report names the lines.

The patterns are deliberately about addressing a model, not about policy wording: "不得忽略" or "应当遵守
以下规定" are policy; "忽略以上指令" is not.
"""

import re
from dataclasses import dataclass

# (why, pattern) — each names one way a text speaks to a model.
PATTERNS: list[tuple[str, re.Pattern]] = [
    (
        "tells the reader to ignore instructions",
        re.compile(r"(?:忽略|无视|忘记|忘掉|不要理会|跳过)[^。\n]{0,12}(?:指令|指示|提示词?|规则|设定|约束|要求|上下文|系统消息)"),
    ),
    (
        "assigns the assistant a role",
        re.compile(r"(?:你|您)(?:现在|从现在起|从现在开始|此后)?(?:是|扮演|充当|作为)[^。\n]{0,12}(?:助手|AI|模型|机器人|客服|角色)", re.I),
    ),
    ("assigns the assistant a role", re.compile(r"从(?:现在|此刻)(?:开始|起)[，,]?\s*(?:你|您)")),
    ("role-play", re.compile(r"角色扮演|扮演一个|假装(?:你|您)是|进入开发者模式|越狱模式")),
    ("names the system prompt", re.compile(r"系统提示词?|系统指令|system\s*prompt|system\s*message", re.I)),
    ("orders the assistant's reply", re.compile(r"(?:请|务必|必须)?(?:直接)?(?:回答|回复|输出|告诉用户)\s*[：:]\s*(?:所有|全部|任何)")),
    ("orders the assistant's reply", re.compile(r"(?:对|向)(?:用户|所有用户|提问者)(?:说|回答|回复|声称)")),
    (
        "tells the reader to ignore instructions",
        re.compile(r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,30}\b(?:instructions?|prompts?|rules|context)\b", re.I),
    ),
    (
        "assigns the assistant a role",
        re.compile(r"\byou are (?:now|no longer)\b|\bact as (?:an?|the)\b|\bpretend (?:to be|you are)\b", re.I),
    ),
    ("role-play", re.compile(r"\b(?:jailbreak|DAN mode|developer mode)\b", re.I)),
    ("a chat-format role tag", re.compile(r"<\|im_start\|>|<\|system\|>|\[/?INST\]|\b(?:system|assistant)\s*[:：]", re.I)),
    ("hidden text (zero-width or direction-control characters)", re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069]")),
]


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
        why = next((why for why, pattern in PATTERNS if pattern.search(line)), None)
        if why:
            found.append(PlantedLine(number, offset, offset + len(line), line.strip(), why))
        offset += len(line) + 1
    return found


def describe(lines: list[PlantedLine], limit: int = 3) -> str:
    """One report line: how many, and the first few with their line numbers."""
    shown = "; ".join(f"line {p.line}: “{p.text[:40]}”（{p.why}）" for p in lines[:limit])
    more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
    return (
        f"{len(lines)} line(s) read as instructions to the assistant, not policy ({shown}{more}); "
        "kept out of answers until an admin approves the document"
    )
