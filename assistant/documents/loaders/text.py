"""Markdown and plain-text loader: optional YAML header, encoding detection for Chinese government files."""

from pathlib import Path

import yaml
from charset_normalizer import from_bytes

from assistant.documents.loaders.base import LoadedDocument, LoadError, Supersession
from assistant.documents.loaders.metadata import fill_missing
from assistant.documents.loaders.repair import join_broken_paragraphs

# GB18030 is a superset of GBK and GB2312, so one attempt covers all three.
_CHINESE_ENCODINGS = ("utf-8-sig", "gb18030")
_HEADER_FIELDS = ("title", "doc_number", "date", "authority", "level", "region", "effective_date", "expiry_date", "status")
# Other spellings a header may use for the same fields.
_HEADER_ALIASES = {
    "effective": "effective_date",
    "施行日期": "effective_date",
    "expiry": "expiry_date",
    "失效日期": "expiry_date",
    "状态": "status",
}
# Bounds on a YAML header: its size, and each field's length (a title is copied into every chunk).
MAX_HEADER_CHARS = 20_000
MAX_FIELD_CHARS = 500


class HeaderLoader(yaml.SafeLoader):
    """The safe loader without aliases: `*name` can repeat a value without limit (a "billion laughs" header)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError(f"aliases (*{self.peek_event().anchor}) are not allowed in a header")
        return super().compose_node(parent, index)


def decode(data: bytes, path: Path) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise LoadError(f"{path.name}: binary data in a text file; save it as UTF-8 or GBK text")
    for encoding in _CHINESE_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    best = from_bytes(data).best()
    if best is None or not looks_like_text(str(best)):
        raise LoadError(f"{path.name}: cannot decode the text (not UTF-8, GBK or GB18030); save it as UTF-8 and ingest again")
    return str(best)


def looks_like_text(text: str) -> bool:
    """A guessed encoding that yields mostly symbols and accented letters is a wrong guess."""
    readable = sum(1 for c in text if c.isascii() or "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef")
    return readable >= 0.9 * len(text)


def split_header(text: str, path: Path) -> tuple[dict, str]:
    """A leading `---` YAML block, if there is one, and the body after it."""
    if not text.startswith("---"):
        return {}, text
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        return {}, text
    if len(parts[0]) > MAX_HEADER_CHARS:
        raise LoadError(f"{path.name}: the YAML header is over {MAX_HEADER_CHARS} characters; keep it to the document's metadata")
    try:
        header = yaml.load(parts[0][3:], Loader=HeaderLoader) or {}
    except yaml.YAMLError as error:
        problem = str(error) if "aliases" in str(error) else error.__class__.__name__
        raise LoadError(f"{path.name}: the YAML header is malformed ({problem}); fix or remove it") from None
    if not isinstance(header, dict):
        return {}, text
    return header, parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""


def supersessions(value, path: Path) -> list[Supersession]:
    """The header's `supersedes:` — one {doc, clause, change?} or a list of them — checked."""
    entries = value if isinstance(value, list) else [value] if value else []
    try:
        return [Supersession(**{k: str(v) for k, v in entry.items()}) for entry in entries[:50]]
    except (AttributeError, TypeError, ValueError):
        raise LoadError(f"{path.name}: the header's supersedes must be a list of {{doc, clause, change}}; fix it") from None


def load_text(path: Path) -> LoadedDocument:
    text = decode(path.read_bytes(), path).replace("\r\n", "\n").replace("\r", "\n")
    header, body = split_header(text, path)
    body = join_broken_paragraphs(body)
    if not body.strip():
        raise LoadError(f"{path.name}: no text after the header; add the document body")
    header = {_HEADER_ALIASES.get(str(key), str(key)): value for key, value in header.items()}
    fields = {name: str(header[name])[:MAX_FIELD_CHARS] for name in _HEADER_FIELDS if header.get(name)}
    fields["supersedes"] = supersessions(header.get("supersedes"), path)
    return fill_missing(LoadedDocument(path=path, text=body, **fields))
