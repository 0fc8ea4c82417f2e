"""HTML loader (BeautifulSoup): the page's main text, without scripts, styles and navigation."""

import re
from pathlib import Path

from bs4 import BeautifulSoup

from assistant.documents.loaders.base import LoadedDocument, LoadError
from assistant.documents.loaders.metadata import fill_missing
from assistant.documents.loaders.text import decode

_NOISE = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "button", "template"]
# Where Chinese government sites put the article body.
_MAIN = ["main", "article", "#zoom", ".TRS_Editor", "#content", ".content", ".article", "#main"]
_BLOCKS = ["p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "table", "section"]
# Real pages nest a few dozen levels; a page nested thousands deep costs the parser minutes, so it is refused.
MAX_DEPTH = 400
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param"}
# Elements a page often leaves open, which the parser closes by itself: they do not nest either.
_SELF_CLOSING = {"p", "li", "td", "th", "tr", "option", "dt", "dd", "thead", "tbody"}
# A link with a scheme (http:, mailto:, javascript:) or a host (//) leads away from the page's folder.
_REMOTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*:|//)")
MAX_LINKS = 200


def nesting_depth(html: str) -> int:
    """The deepest nesting of elements, counted from the tags alone (void, self-closed and implicitly closed
    elements do not nest)."""
    depth = deepest = 0
    for closing, name, self_closed in _TAG.findall(html):
        if name.lower() in _VOID or name.lower() in _SELF_CLOSING or self_closed:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        deepest = max(deepest, depth)
    return deepest


def main_element(soup: BeautifulSoup):
    for selector in _MAIN:
        found = soup.select_one(selector)
        if found and found.get_text(strip=True):
            return found
    return soup.body or soup


def local_links(main) -> list[tuple[str, str]]:
    """Links of the body to files beside the page (a notice's attachments), not to other sites or anchors."""
    links = []
    for anchor in main.find_all("a", href=True)[:MAX_LINKS]:
        href = anchor["href"].strip()
        if href and not _REMOTE.match(href) and not href.startswith("#"):
            links.append((href[:500], anchor.get_text(" ", strip=True)[:200]))
    return links


def load_html(path: Path) -> LoadedDocument:
    html = decode(path.read_bytes(), path)
    if nesting_depth(html) > MAX_DEPTH:
        raise LoadError(f"{path.name}: the HTML nests elements more than {MAX_DEPTH} levels deep; save the page's text instead")
    soup = BeautifulSoup(html, "lxml")
    page_title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(_NOISE):
        tag.decompose()
    main = main_element(soup)
    heading = main.find(["h1", "h2"]) or soup.find("h1")
    links = local_links(main)
    for row in main.find_all("tr"):
        cells = [cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"])]
        row.replace_with("\n" + " | ".join(cell for cell in cells if cell) + "\n")
    for tag in main.find_all(_BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    lines = [" ".join(line.split()) for line in main.get_text().splitlines()]
    text = "\n\n".join(line for line in lines if line)
    if not text:
        raise LoadError(f"{path.name}: the HTML page has no visible text")
    title = heading.get_text(strip=True) if heading else page_title
    return fill_missing(LoadedDocument(path=path, text=text, title=title, links=links))
