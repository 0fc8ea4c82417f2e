"""Metadata for documents that carry no header: title, 文号, date and issuing authority, read from the text."""

import re

from assistant.documents.loaders.base import LoadedDocument
from assistant.documents.structure import strip_markdown_heading

_NUM = r"[\d一二三四五六七八九十百零〇]+"
DOC_NUMBER = re.compile(
    rf"[\u4e00-\u9fa5]{{1,12}}[〔\[【（(]\d{{4}}[〕\]】）)]\d+号"  # 广营商办〔2025〕1号, 国发〔2019〕5号
    rf"|(?:中华人民共和国)?(?:国务院|主席)令第{_NUM}号"  # 国务院令第722号
)
DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_AUTHORITY_SUFFIX = re.compile(
    r"(人民政府|人民政府办公室|人民政府办公厅|办公厅|办公室|委员会|领导小组|国务院|局|厅|部|委|管委会)(（代章）)?$"
)


def find_doc_number(text: str) -> str:
    match = DOC_NUMBER.search(text)
    return match.group(0) if match else ""


def find_date(text: str) -> str:
    """The first date written as 2025年3月24日, as ISO `2025-03-24`."""
    match = DATE.search(text)
    if not match:
        return ""
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def find_title(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        heading, is_markdown = strip_markdown_heading(line)
        if is_markdown and heading:
            return heading
    return strip_markdown_heading(lines[0])[0][:80] if lines else ""


def find_authority(text: str) -> str:
    """A short line near the top naming an office: `XX人民政府办公室` or the masthead `XX文件`."""
    for line in text.splitlines()[:15]:
        line = line.strip()
        if not line or len(line) > 40:
            continue
        if line.endswith("文件") and len(line) > 4:
            return line[: -len("文件")]
        if _AUTHORITY_SUFFIX.search(line) and not re.search(r"[，。：；]", line):
            return line
    return ""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# "本条例自2025年6月1日起施行", "本办法有效期至2027年12月31日" (the dates a document states about itself).
EFFECTIVE = re.compile(r"自\s*(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)\s*起(?:施行|实施|执行|生效)")
EXPIRY = re.compile(r"有效期(?:至|到|截至)\s*(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)")


def iso_date(text: str) -> str:
    """`2025-06-01` from `2025-06-01`, `2025-06-01（修订）` or `2025年6月1日`; "" if there is no date."""
    found = _ISO_DATE.search(text)
    return found.group(0) if found else find_date(text)


def fill_missing(doc: LoadedDocument) -> LoadedDocument:
    """Infer whatever the loader did not find in a header."""
    head = doc.text[:3000]
    doc.title = doc.title or find_title(doc.text) or doc.path.stem
    doc.doc_number = doc.doc_number or find_doc_number(head)
    doc.date = doc.date or find_date(head)
    doc.authority = doc.authority or find_authority(doc.text)
    stated_effective = EFFECTIVE.search(doc.text)
    stated_expiry = EXPIRY.search(doc.text)
    doc.effective_date = iso_date(doc.effective_date) or (find_date(stated_effective.group(1)) if stated_effective else "")
    doc.expiry_date = iso_date(doc.expiry_date) or (find_date(stated_expiry.group(1)) if stated_expiry else "")
    return doc
