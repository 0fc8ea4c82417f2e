"""Lines and reading order rebuilt from positioned text: the boxes OCR finds on a page image, or the text
objects of an OFD page. The page is straightened (a scan laid 2° crooked), split into columns when a gutter
runs down it, boxes on one baseline joined into lines, and the printed page number and the running header or
footer lines in the margins set apart. Each line says whether it runs to the column's right edge, which is how
a paragraph that goes on is told from one that ended.
"""

import math
import re
import statistics
from dataclasses import dataclass, field

from assistant.documents.loaders.repair import join_separator

# "- 3 -", "—3—", "第3页", "第 3 页 共 20 页", "3/20", "3".
PAGE_NUMBER = re.compile(r"^\s*(?:[—–\-－]+\s*\d+\s*[—–\-－]+|第\s*\d+\s*页(?:\s*[，,/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|\d{1,4})\s*$")
# The top and bottom bands of a page where headers, footers and page numbers are printed.
MARGIN_BAND = 0.08
# A line whose right end stops this many character heights short of the column's edge ended its paragraph.
_SHORT_BY = 1.5
# A line starting this many character heights right of the column's left edge opens a paragraph (the 2-character
# indent of Chinese paragraphs).
_INDENT_BY = 1.2
# The share of a page's boxes each column must hold before the page is read as two columns.
_COLUMN_SHARE = 0.25


@dataclass
class Box:
    """A piece of text and where it stands: four corners clockwise from top left, in page pixels or mm."""

    text: str
    corners: list[tuple[float, float]]
    score: float = 1.0

    @property
    def left(self) -> float:
        return min(x for x, _ in self.corners)

    @property
    def right(self) -> float:
        return max(x for x, _ in self.corners)

    @property
    def top(self) -> float:
        return min(y for _, y in self.corners)

    @property
    def bottom(self) -> float:
        return max(y for _, y in self.corners)

    @property
    def height(self) -> float:
        (x0, y0), _, _, (x3, y3) = self.corners
        return math.hypot(x3 - x0, y3 - y0) or (self.bottom - self.top)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    def slope(self) -> float | None:
        """The angle of the box's top edge in radians; None for boxes too short to tell."""
        (x0, y0), (x1, y1) = self.corners[0], self.corners[1]
        if x1 - x0 < 3 * self.height:
            return None
        return math.atan2(y1 - y0, x1 - x0)

    def turned(self, angle: float, centre: tuple[float, float]) -> "Box":
        cos, sin = math.cos(-angle), math.sin(-angle)
        cx, cy = centre
        corners = [(cx + (x - cx) * cos - (y - cy) * sin, cy + (x - cx) * sin + (y - cy) * cos) for x, y in self.corners]
        return Box(self.text, corners, self.score)


@dataclass
class Line:
    text: str
    score: float  # the lowest confidence of its boxes
    full: bool  # runs to the right edge of its column: the paragraph may go on
    left: float = 0.0
    top: float = 0.0
    margin: bool = False  # stands in the top or bottom band of the page, where headers and footers go


@dataclass
class PageLayout:
    lines: list[Line] = field(default_factory=list)
    label: str = ""  # the printed page number, "" if none was found

    def without(self, running: set[str]) -> list[Line]:
        """The lines but the running headers and footers."""
        return [line for line in self.lines if not (line.margin and normalised(line.text) in running)]


def skew(boxes: list[Box]) -> float:
    """The page's tilt: the median slope of the long boxes (0 when none is long enough)."""
    slopes = [s for s in (b.slope() for b in boxes) if s is not None]
    return statistics.median(slopes) if slopes else 0.0


def straighten(boxes: list[Box], size: tuple[float, float]) -> list[Box]:
    angle = skew(boxes)
    if abs(angle) < 0.002:  # under ~0.1°: nothing to turn
        return boxes
    return [b.turned(angle, (size[0] / 2, size[1] / 2)) for b in boxes]


def split_columns(boxes: list[Box], width: float) -> list[list[Box]]:
    """One list per column in reading order: boxes spanning the gutter that stand above the columns (a title)
    first, then the left column, the right column, and spanning boxes below them."""
    if len(boxes) < 8:
        return [boxes]
    for gutter in sorted(range(int(width * 0.35), int(width * 0.65), max(int(width / 100), 1)), key=lambda x: abs(x - width / 2)):
        spanning = [b for b in boxes if b.left < gutter < b.right]
        left = [b for b in boxes if b.right <= gutter]
        right = [b for b in boxes if b.left >= gutter]
        if len(spanning) <= 0.1 * len(boxes) and min(len(left), len(right)) >= _COLUMN_SHARE * len(boxes):
            top = min(b.top for b in left + right)
            above = [b for b in spanning if b.middle < top]
            below = [b for b in spanning if b.middle >= top]
            return [part for part in (above, left, right, below) if part]
    return [boxes]


def group_lines(boxes: list[Box]) -> list[list[Box]]:
    """Boxes whose middles lie within half a character height of each other stand on one line."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        if rows:
            row = rows[-1]
            middle = statistics.fmean(b.middle for b in row)
            height = statistics.fmean(b.height for b in row)
            if abs(box.middle - middle) < 0.5 * max(height, box.height):
                row.append(box)
                continue
        rows.append([box])
    return [sorted(row, key=lambda b: b.left) for row in rows]


def join_row(row: list[Box]) -> str:
    text = ""
    for box in row:
        piece = box.text.strip()
        text += join_separator(text, piece) + piece if text else piece
    return text


def column_lines(column: list[Box]) -> list[Line]:
    rows = group_lines(column)
    if not rows:
        return []
    left_edge = min(b.left for b in column)
    right_edge = max(b.right for b in column)
    height = statistics.median(b.height for b in column)
    lines = []
    for index, row in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        reaches_edge = row[-1].right >= right_edge - _SHORT_BY * height
        next_indented = following is not None and following[0].left > left_edge + _INDENT_BY * height
        lines.append(Line(join_row(row), min(b.score for b in row), reaches_edge and not next_indented, row[0].left, row[0].top))
    return lines


def page_number(text: str) -> str:
    """ "3" from "- 3 -" or "第3页 共20页"; "" when the line is not a page number."""
    return re.sub(r"\D+", " ", text).split()[0] if PAGE_NUMBER.match(text) else ""


def page_layout(boxes: list[Box], size: tuple[float, float]) -> PageLayout:
    """The page's lines in reading order and its printed page number, which is taken out of the text."""
    boxes = straighten([b for b in boxes if b.text.strip()], size)
    layout = PageLayout()
    for column in split_columns(boxes, size[0]):
        layout.lines.extend(column_lines(column))
    for line in layout.lines:
        line.margin = line.top < MARGIN_BAND * size[1] or line.top > (1 - MARGIN_BAND) * size[1]
    # The page number: a line of its own in a margin, or the last line of the page.
    for line in [*(line for line in layout.lines if line.margin), *layout.lines[-1:]]:
        if page_number(line.text):
            layout.label = page_number(line.text)
            layout.lines.remove(line)
            break
    return layout


def normalised(text: str) -> str:
    return re.sub(r"\d+", "#", "".join(text.split()))


def running_lines(pages: list[PageLayout]) -> set[str]:
    """Margin lines printed on at least two pages and on half of them (a running header or footer), digits
    ignored so that "第3页" and "第4页" count as the same line."""
    counts: dict[str, int] = {}
    for page in pages:
        for text in {normalised(line.text) for line in page.lines if line.margin}:
            counts[text] = counts.get(text, 0) + 1
    return {text for text, count in counts.items() if count >= 2 and count * 2 >= len(pages)}
