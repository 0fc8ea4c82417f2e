"""Matching an enterprise's profile (企业画像) to the policy items that apply to it, ranked by what it asked for.

Each stated need is a query: the hybrid retriever (BM25 + dense, with the thesaurus and the attached
questions) finds the passages that answer it, and their items, among those the enterprise is eligible for,
are that need's ranking. The first places go to each need's best items in turn (interleaved, no repeats);
then every other item that answers a need, by the needs' rankings fused with relevance to the whole profile;
then the items that carry a benefit specific to this enterprise (a group it is in, or a benefit type of its
needs or industry), by the same fusion. An item that does neither is not listed. A measure for a park's
enterprises, when the profile names no park, comes last in its tier. Every listed item is counted in `total`;
a page is a slice of the whole ranking.
"""

import re
from dataclasses import dataclass

from pydantic import BaseModel

from assistant.documents.items import PolicyItem, item_key
from assistant.errors import Unavailable
from assistant.index.embeddings import embed_queries
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.lexical import LexicalIndex, Tokenizer
from assistant.matching.eligibility import Eligibility, Judge
from assistant.matching.profile import Profile
from assistant.retrieval.hybrid import RRF_K, search

# Needs in everyday words → the benefit types that serve them.
NEED_BENEFITS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"贷款|融资|借钱|资金周转|担保|授信|续贷|扩产|扩大生产"), "融资/担保"),
    (re.compile(r"接电|用电|电费|用水|接水|用气|天然气|燃气|报装"), "水电气"),
    (re.compile(r"用地|土地|厂房|建厂|拿地"), "用地"),
    (re.compile(r"招工|招聘|用工|人才|培训|社保|工伤"), "用工/人才"),
    (re.compile(r"补贴|奖励|补助|资助"), "资金补贴/奖励"),
    (re.compile(r"税|减免|退税|抵扣"), "税费减免"),
    (re.compile(r"审批|办证|执照|登记|开办|注册|许可|办事"), "审批/办事便利"),
    (re.compile(r"拖欠|欠款|账款|货款|维权|纠纷|诉讼|查封|执行|检查|执法|罚款|知识产权"), "法律/权益保护"),
    (re.compile(r"出口|外贸|物流|班列|通关|跨境|运输"), "物流/外贸"),
]


class ItemIndex:
    """BM25 over the items' texts: how much an item speaks of the enterprise's industry and needs. `questions`
    (item id → the everyday questions attached to its section) are read with the item's text, as search reads
    passages with theirs: a need says "下岗的矿工能领些啥", the article says 失业人员."""

    def __init__(self, items: list[PolicyItem], tokenizer: Tokenizer | None = None, questions: dict[str, list[str]] | None = None):
        questions = questions or {}
        texts = [" ".join([i.section, i.text, *questions.get(i.item_id, [])]) for i in items]
        self.lexical = LexicalIndex.build([i.item_id for i in items], texts, tokenizer or Tokenizer())

    def relevance(self, query: str) -> dict[str, float]:
        """Scores scaled so that the best item has 1.0."""
        if not query.strip():
            return {}
        scores = self.lexical.scores(query)
        best = float(scores.max()) if len(scores) else 0.0
        return {item_id: float(score) / best for item_id, score in zip(self.lexical.ids, scores) if best > 0 and score > 0}


class MatchedItem(BaseModel):
    item_id: str
    doc_title: str
    doc_number: str
    section: str
    title: str
    text: str
    needs: list[str]  # the profile's needs this item answers, as the enterprise wrote them
    reasons: list[str]  # ✓ what holds: the need it answers, the groups the enterprise is in
    uncertain: list[str]  # ？ what the profile leaves open, for the reviewer to check
    benefit: list[str]
    departments: dict[str, list[str]]
    rank: int  # 1 = first of the whole ranking
    score: float  # relevance to the whole profile, one of the rankings fused after the first places (not the order itself)
    start: int
    end: int

    @classmethod
    def of(cls, item: PolicyItem, rank: int, score: float, **found: list[str]) -> "MatchedItem":
        """The item's own fields, with its place and what the matcher found (`needs`, `reasons`, `uncertain`)."""
        return cls(
            item_id=item.item_id,
            doc_title=item.doc_title,
            doc_number=item.doc_number,
            section=item.section,
            title=item.title,
            text=item.text,
            needs=found.get("needs", []),
            reasons=found.get("reasons", []),
            uncertain=found.get("uncertain", []),
            benefit=item.values("benefits"),
            departments={"lead": item.lead, "cooperating": item.cooperating},
            rank=rank,
            score=score,
            start=item.start,
            end=item.end,
        )


class MatchResult(BaseModel):
    total: int  # every item that applies, however many are shown
    offset: int = 0  # the page starts after this many
    items: list[MatchedItem]
    profile: Profile


@dataclass
class Candidate:
    """An eligible item, with what ranks it."""

    item: PolicyItem
    eligibility: Eligibility
    served: list[str]  # benefit types of the item that a stated need asks for
    needs: list[str]  # the needs whose ranking holds it, best first
    need_ranks: list[int]  # its places in the rankings of the needs it answers (0 = first)
    places: list[str]  # the counties and parks it names that are the enterprise's own
    score: float
    park_unknown: bool = False  # a measure for a park's enterprises (`is_park_measure`) while the profile names no park

    @property
    def tier(self) -> int:
        """0: answers a need; 1: carries a benefit specific to this enterprise."""
        return 0 if self.needs else 1


def need_benefits(profile: Profile) -> set[str]:
    text = f"{profile.needs_text()}；{profile.industry or ''}"
    wanted = {benefit for pattern, benefit in NEED_BENEFITS if pattern.search(text)}
    if profile.exports:
        wanted.add("物流/外贸")
    return wanted


def group_words(profile: Profile, size: str | None) -> list[str]:
    """The words policy texts use for the groups this enterprise is in."""
    words = []
    if size in ("微型", "小型", "小微"):
        words += ["小微企业", "中小企业"]
    elif size == "中型":
        words.append("中小企业")
    if profile.is_individual():
        words.append("个体工商户")
    if profile.ownership == "private":
        words.append("民营")
    if profile.ownership == "state":
        words += ["国有企业", "大型企业"]
    if profile.ownership == "foreign":
        words.append("外商投资")
    if profile.exports:
        words += ["出口", "外贸"]
    if profile.is_high_tech:
        words.append("高新技术企业")
    if profile.has_rnd:
        words += ["研究开发", "科技"]
    if profile.park:
        words += [profile.park, "园区"]
    if profile.years() is not None and profile.years() <= 3:
        words += ["设立", "登记"]
    return words


def need_words(profile: Profile) -> list[str]:
    """Two-character words of the needs and industry, to find items that speak of them."""
    text = re.sub(r"[想要我们需要希望想办的了]", " ", f"{profile.needs_text()} {profile.industry or ''}")
    words = set()
    for chunk in re.findall(r"[\u4e00-\u9fff]{2,}", text):
        words.update(chunk[i : i + 2] for i in range(len(chunk) - 1))
    return sorted(words)


def item_questions(kb: KnowledgeBase) -> dict[str, list[str]]:
    """The texts of the questions attached to each item's section."""
    by_section = kb.questions_by_section
    return {i.item_id: [kb.questions[q].text for q in by_section.get((i.doc_id, i.section), [])] for i in kb.items}


def is_park_measure(item: PolicyItem) -> bool:
    """A measure for the enterprises of a park (tagged 园区企业, `items.for_park_enterprises`)."""
    return "园区企业" in item.values("beneficiaries")


def interleave(rankings: list[list[str]], quota: int) -> list[str]:
    """Each ranking's best `quota` items, taken in turn (the first of each, then the second …), without repeats."""
    order: list[str] = []
    positions = [0] * len(rankings)
    for _ in range(quota):
        for n, ranking in enumerate(rankings):
            while positions[n] < len(ranking) and ranking[positions[n]] in order:
                positions[n] += 1
            if positions[n] < len(ranking):
                order.append(ranking[positions[n]])
                positions[n] += 1
    return order


class Matcher:
    """Ranks the items of one knowledge base for a profile; the item index is built once and reused."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        questions = item_questions(kb) if kb.settings.match_item_questions else None
        self.index = ItemIndex(kb.items, kb.lexical.tokenizer, questions)

    def need_ranking(self, need: str, vector: list[float] | None, eligible: dict[str, tuple[PolicyItem, Eligibility]]) -> list[str]:
        """The eligible items whose passages the hybrid retriever finds for one need, best first, at most
        `match_need_depth`. (Fusing BM25 over the items' whole texts, favouring items that name the enterprise's
        groups, and searching the need with the industry before it all did worse on eval/matching.jsonl.)"""
        ranking: list[str] = []
        mode = "hybrid" if vector is not None else "bm25"
        settings = self.kb.settings
        depth = settings.match_candidates
        found = search(
            self.kb,
            need,
            depth,
            mode,
            vector=vector,
            candidates=depth,
            expanded=settings.match_expand_passages,
            bm25_weight=settings.match_bm25_weight,
        )
        for hit in found:
            item_id = item_key(hit.chunk.doc_id, hit.chunk.section)
            if item_id in eligible and item_id not in ranking:
                ranking.append(item_id)
                if len(ranking) == settings.match_need_depth:
                    break
        return ranking

    def candidates(self, profile: Profile) -> list[Candidate]:
        judge = Judge(profile)
        eligible = {item.item_id: (item, e) for item in self.kb.items if (e := judge.assess(item)) is not None}
        needs = list(dict.fromkeys(n.strip() for n in profile.needs if n.strip()))
        try:
            vectors: list[list[float] | None] = list(embed_queries(self.kb.embedder, needs))  # one batch for all the needs
        except Unavailable:
            vectors = [None] * len(needs)  # the embedding endpoint is down: the needs are searched by BM25 alone
        rankings = {need: self.need_ranking(need, vector, eligible) for need, vector in zip(needs, vectors)}
        relevance = self.relevance(profile, judge.size)
        wanted = need_benefits(profile)
        words = need_words(profile)
        place = profile.place()
        found = []
        for item_id, (item, eligibility) in eligible.items():
            answered = sorted((ranking.index(item_id), need) for need, ranking in rankings.items() if item_id in ranking)
            served = [b for b in item.values("benefits") if b in wanted]
            if not (answered or served or eligibility.specific):
                continue  # it addresses every business, or groups the profile leaves open, and answers nothing asked
            named_places = [t.value for t in item.places if t.value in place]
            found.append(
                Candidate(
                    item=item,
                    eligibility=eligibility,
                    served=served,
                    needs=[need for _, need in answered],
                    need_ranks=[rank for rank, _ in answered],
                    places=named_places,
                    score=score(item, eligibility, served, relevance.get(item_id, 0.0), words, named_places),
                    park_unknown=not profile.park and is_park_measure(item),
                )
            )
        return self.rank(found, list(rankings.values()))

    def relevance(self, profile: Profile, size: str | None) -> dict[str, float]:
        """How much each item's text speaks of the needs and the industry (BM25), and, less, of the enterprise's groups."""
        needs = self.index.relevance(f"{profile.needs_text()} {profile.industry or ''}")
        groups = self.index.relevance(" ".join(group_words(profile, size)))
        return {item_id: needs.get(item_id, 0.0) + 0.4 * groups.get(item_id, 0.0) for item_id in needs.keys() | groups.keys()}

    def rank(self, found: list[Candidate], rankings: list[list[str]]) -> list[Candidate]:
        """Each need's best items in turn first; then the rest by reciprocal-rank fusion of the needs' rankings
        and the ranking by relevance to the whole profile, items answering a need before the others."""
        settings = self.kb.settings
        by_id = {c.item.item_id: c for c in found}
        later = {c.item.item_id for c in found if c.park_unknown} if settings.match_park_unknown_last else set()
        rankings = [[i for i in ranking if i not in later] for ranking in rankings]
        first = [by_id[i] for i in interleave(rankings, settings.match_need_quota)]
        taken = {c.item.item_id for c in first}
        by_score = sorted(found, key=lambda c: (-c.score, c.item.item_id))
        fused = {c.item.item_id: settings.match_profile_weight / (RRF_K + n) for n, c in enumerate(by_score, start=1)}
        for c in found:
            fused[c.item.item_id] += sum(1.0 / (RRF_K + rank + 1) for rank in c.need_ranks)
        rest = sorted(
            (c for c in found if c.item.item_id not in taken),
            key=lambda c: (c.tier, c.item.item_id in later, -fused[c.item.item_id], c.item.item_id),
        )
        return first + rest

    def match(self, profile: Profile, limit: int | None = 10, offset: int = 0) -> MatchResult:
        ranked = self.candidates(profile)
        page = ranked[offset : offset + limit if limit is not None else None]
        items = [matched_item(c, offset + n) for n, c in enumerate(page, start=1)]
        return MatchResult(total=len(ranked), offset=offset, items=items, profile=profile)


def score(item: PolicyItem, eligibility: Eligibility, served: list[str], relevance: float, words: list[str], places: list[str]) -> float:
    """Relevance to the whole profile: serving a stated need's benefit type counts most, then how much the text
    speaks of the needs and the industry (BM25), then naming the enterprise's own groups and places."""
    specific = [f for f in eligibility.holds if f.specific]
    overlap = sum(1 for w in words if w in item.text)
    return round(
        3.0 * len(served)
        + 6.0 * relevance
        + (2.0 + 0.5 * min(len(specific) - 1, 2) if specific else 0.0)
        + 0.3 * len(eligibility.unknown)
        + 0.2 * min(overlap, 6)
        + 1.5 * len(places)
        + (0.5 if item.level == "市级" else 0.0),
        2,
    )


def matched_item(candidate: Candidate, rank: int) -> MatchedItem:
    item, eligibility = candidate.item, candidate.eligibility
    reasons = [f"针对需求“{need}”" for need in candidate.needs]
    reasons += [f.reason for f in eligibility.holds if f.reason and (f.specific or not eligibility.specific)]
    if candidate.served:
        reasons.append(f"属{'、'.join(candidate.served)}类政策，与企业所述需求或行业相符")
    if candidate.places:
        reasons.append(f"条款点名{'、'.join(candidate.places)}，与企业所在地一致")
    uncertain = [f.reason for f in eligibility.unknown if f.reason]
    if not eligibility.place_known:
        uncertain.append(f"适用地区为{item.region}，请核实企业所在地")
    for condition in item.conditions:
        if condition.value in ("规模上限", "金额"):
            uncertain.append(f"条件“{condition.evidence}”需对照企业实际情况核实")
    return MatchedItem.of(
        item, rank, candidate.score, needs=candidate.needs, reasons=list(dict.fromkeys(reasons)), uncertain=list(dict.fromkeys(uncertain))
    )
