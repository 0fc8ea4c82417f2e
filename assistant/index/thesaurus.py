"""The bridge from an enterprise's everyday words to the statutory words of the corpus: 公司不开了 → 注销,
招人 → 招用, 拿地 → 土地使用权出让. It is data that interpreters extend (`assistant/data/thesaurus.tsv`, one
`everyday<TAB>statutory` pair per line, `#` for comments); search adds the statutory terms of the everyday
words a question contains, with less weight than the user's own words.
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Thesaurus:
    terms: dict[str, tuple[str, ...]]  # everyday → statutory terms, in file order

    @classmethod
    def load(cls, path: Path | None = None) -> "Thesaurus":
        text = (
            path.read_text(encoding="utf-8")
            if path
            else (resources.files("assistant") / "data" / "thesaurus.tsv").read_text(encoding="utf-8")
        )
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> "Thesaurus":
        terms: dict[str, list[str]] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [part.strip() for part in line.split("\t")]
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"thesaurus line {number}: expected 'everyday<TAB>statutory', got {line!r}")
            everyday, statutory = parts
            if statutory not in terms.setdefault(everyday, []):
                terms[everyday].append(statutory)
        return cls({everyday: tuple(statutory) for everyday, statutory in terms.items()})

    def expand(self, question: str) -> list[str]:
        """The statutory terms for the everyday words in the question, that the question does not already use."""
        found: list[str] = []
        for everyday, statutory in self.terms.items():
            if everyday in question:
                found += [term for term in statutory if term not in question and term not in found]
        return found
