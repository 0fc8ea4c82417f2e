"""How much a question borrows the words of the clause that answers it. A question written after reading its
clause shares long runs of characters with it and flatters lexical retrieval; one written from an enterprise's
situation mostly does not. The blind split is held to limits on both measures (tests/test_eval.py), and no
development question may reword a blind one (`rewords`)."""

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.evaluation.metrics import GoldItem

# Letters, digits and CJK characters count; punctuation and spaces do not.
_TEXT = re.compile(r"[^\w\u4e00-\u9fff]+")


def normalise(text: str) -> str:
    return _TEXT.sub("", text).lower()


def shares_run(question: str, quotes: list[str], length: int = 4) -> bool:
    """Whether some run of `length` characters of the question occurs in one of the quotes."""
    q = normalise(question)
    sources = [normalise(quote) for quote in quotes]
    return any(q[i : i + length] in source for i in range(len(q) - length + 1) for source in sources)


def bigram_overlap(question: str, quotes: list[str]) -> float:
    """The share of the question's character bigrams that occur in one of the quotes."""
    q = normalise(question)
    bigrams = {q[i : i + 2] for i in range(len(q) - 1)}
    if not bigrams:
        return 0.0
    sources = [normalise(quote) for quote in quotes]
    return sum(1 for b in bigrams if any(b in source for source in sources)) / len(bigrams)


def same_clause(first: "GoldItem", second: "GoldItem") -> bool:
    """Whether two questions ask for the same clause: gold quotes of one file that overlap, or both unanswerable."""
    if not first.gold and not second.gold:
        return True
    return any(a.file == b.file and (a.quote in b.quote or b.quote in a.quote) for a in first.gold for b in second.gold)


def rewords(first: "GoldItem", second: "GoldItem") -> bool:
    """Whether one question nearly restates the other: they share a run of nine characters, or of eight when they
    ask for the same clause. Writers working apart converge on phrases such as "找政府背景的担保公司"; a development
    question like that is tuned on as if it were the blind one."""
    if shares_run(first.question, [second.question], 9):
        return True
    return shares_run(first.question, [second.question], 8) and same_clause(first, second)
