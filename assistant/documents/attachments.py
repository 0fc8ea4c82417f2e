"""Notices with attachments: a government site publishes a policy as a file attached to an HTML notice
("附件：广元市……方案.pdf"). The attachment is indexed as a document of its own, but carries the notice's
文号, date and issuing authority (which the attachment itself rarely prints), and is titled by its link text.
"""

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from assistant.documents.loaders.base import LoadedDocument

# "附件1：", "附件：" and the file's extension are not part of an attachment's title.
_LINK_PREFIX = re.compile(r"^\s*附件\s*[\d一二三四五六七八九十]*\s*[:：.、]?\s*")
_EXTENSION = re.compile(r"\.[A-Za-z]{2,5}$")
HTML_SUFFIXES = (".html", ".htm")


def linked_files(notice_id: str, notice: LoadedDocument, documents: set[str]) -> dict[str, str]:
    """The corpus documents the notice links to (doc_id → link text); links that leave the corpus are ignored."""
    folder = PurePosixPath(notice_id).parent
    found = {}
    for href, text in notice.links:
        path = unquote(urlsplit(href).path)
        if not path or path.startswith("/"):
            continue
        target = (folder / path).as_posix()
        parts: list[str] = []
        for part in target.split("/"):  # resolve `..` without touching the file system
            if part == "..":
                if not parts:
                    break
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        else:
            doc_id = "/".join(parts)
            if doc_id in documents and doc_id != notice_id and not doc_id.lower().endswith(HTML_SUFFIXES):
                found.setdefault(doc_id, text)
    return found


def attachment_title(link_text: str, notice: LoadedDocument) -> str:
    title = _EXTENSION.sub("", _LINK_PREFIX.sub("", link_text)).strip()
    return title if len(title) >= 4 else notice.title


def inherit(document: LoadedDocument, notice: LoadedDocument, link_text: str) -> LoadedDocument:
    """The attachment with the notice's metadata: the notice's 文号, date and authority replace what was guessed
    from the attachment's text (which may cite another document's 文号 first)."""
    document.title = attachment_title(link_text, notice) or document.title
    document.doc_number = notice.doc_number or document.doc_number
    document.date = notice.date or document.date
    document.authority = notice.authority or document.authority
    return document
