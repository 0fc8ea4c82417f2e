"""Matching an enterprise's profile (企业画像) to the policy items that apply to it, with reasons quoted from
the item text, what the profile leaves open, the benefit, the department to contact and a score.

An item applies when one of its beneficiaries fits the profile (or the item is for every business), its
place fits, and nothing in the profile rules it out. Unknown profile fields are unknown, never false: a
condition they would settle is listed under `uncertain`. Items are ranked by how specifically they
address the enterprise and how well they serve its stated needs. Every applicable item is counted in
`total`, even when only the first ones are shown.
"""

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from assistant.documents.items import PolicyItem, Tag
from assistant.index.lexical import LexicalIndex, Tokenizer
from assistant.vocabulary import in_guangyuan

Ownership = Literal["private", "state", "foreign", "individual"]
SizeClass = Literal["微型", "小型", "小微", "中型", "大型"]
OWNERSHIP_NAMES = {"private": "民营", "state": "国有", "foreign": "外资", "individual": "个体工商户"}

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
INDUSTRY_GROUPS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"农|种植|养殖|猕猴桃|茶|果|蔬|合作社|农产品|粮"), "农业经营主体"),
    (re.compile(r"物流|运输|货运|快递|仓储|供应链"), "物流企业"),
    (re.compile(r"建筑|工程|施工|装修|建设"), "建筑/工程企业"),
]
# National SME size rules (工信部联企业〔2011〕300号), by sector: for micro, small and medium in turn, the
# limits on employees ("e"), revenue ("r", 万元) and total assets ("a", 万元); a firm is in the class when
# any of its known figures is below that limit. Sectors not listed use the industrial rule.
Limits = dict[str, int]
SIZE_RULES: list[tuple[re.Pattern | None, tuple[Limits, Limits, Limits]]] = [
    (re.compile(r"零售|便利店|超市|商店|小店|门店"), ({"e": 10, "r": 100}, {"e": 50, "r": 500}, {"e": 300, "r": 20000})),
    (re.compile(r"餐|饭店|酒店|住宿|民宿"), ({"e": 10, "r": 100}, {"e": 100, "r": 2000}, {"e": 300, "r": 10000})),
    (re.compile(r"批发|贸易|外贸"), ({"e": 5, "r": 1000}, {"e": 20, "r": 5000}, {"e": 200, "r": 40000})),
    (re.compile(r"物流|运输|货运|仓储"), ({"e": 20, "r": 200}, {"e": 300, "r": 2000}, {"e": 1000, "r": 30000})),
    (re.compile(r"软件|信息|科技|互联网"), ({"e": 10, "r": 50}, {"e": 100, "r": 1000}, {"e": 300, "r": 10000})),
    (re.compile(r"建筑|工程|施工"), ({"r": 300, "a": 300}, {"r": 6000, "a": 5000}, {"r": 80000, "a": 80000})),
    (None, ({"e": 20, "r": 300}, {"e": 300, "r": 2000}, {"e": 1000, "r": 40000})),
]


# Bounds on a profile, whichever face it comes from: every field is short text or a finite figure.
MAX_FIELD = 200
MAX_NEEDS = 20


class Profile(BaseModel):
    """An enterprise as it describes itself; a field left out is unknown."""

    model_config = ConfigDict(allow_inf_nan=False)
    name: str | None = Field(None, max_length=MAX_FIELD)
    region: str | None = Field(None, max_length=MAX_FIELD)  # county or district, e.g. 苍溪县
    park: str | None = Field(None, max_length=MAX_FIELD)  # e.g. 广元经济技术开发区
    industry: str | None = Field(None, max_length=MAX_FIELD)  # free text, e.g. 猕猴桃加工
    employees: int | None = Field(None, ge=0, le=10_000_000)
    annual_revenue_wan: float | None = Field(None, ge=0, le=1e12)
    total_assets_wan: float | None = Field(None, ge=0, le=1e12)
    ownership: Ownership | None = None
    founded_year: int | None = Field(None, ge=1900, le=2100)
    is_high_tech: bool | None = None
    exports: bool | None = None
    has_rnd: bool | None = None
    is_individual_business: bool | None = None
    declared_size: SizeClass | None = None  # what the enterprise says it is ("我们是小微企业"), when figures are missing
    needs: list[Annotated[str, StringConstraints(max_length=MAX_FIELD)]] = Field(default_factory=list, max_length=MAX_NEEDS)

    def size(self) -> tuple[SizeClass | None, str]:
        """The size class and how it was found, in words; unknown when the known figures cannot decide it."""
        rule = next(limits for pattern, limits in SIZE_RULES if pattern is None or (self.industry and pattern.search(self.industry)))
        figures = {"e": self.employees, "r": self.annual_revenue_wan, "a": self.total_assets_wan}
        names = {"e": "从业人员{:g}人", "r": "营业收入{:g}万元", "a": "资产总额{:g}万元"}
        known = "、".join(names[k].format(v) for k, v in figures.items() if v is not None and k in rule[0])
        complete = all(figures[k] is not None for k in rule[0])
        for label, limits in zip(("微型", "小型", "中型"), rule):
            if any(figures[k] is not None and figures[k] < limit for k, limit in limits.items()):
                # Below a limit proves the class only for the smallest one, or when every figure is known:
                # otherwise an unknown figure might put the firm in a smaller class.
                if label == "微型" or complete:
                    return label, f"{known}，按中小企业划型标准属{label}企业"
                break
        else:
            if complete:
                return "大型", f"{known}，按中小企业划型标准属大型企业"
        return self.declared_size, f"自述为{self.declared_size}企业" if self.declared_size else ""

    def years(self) -> int | None:
        return date.today().year - self.founded_year if self.founded_year else None

    def needs_text(self) -> str:
        return "；".join(self.needs)


class ItemIndex:
    """BM25 over the items' texts: how much an item speaks of the enterprise's industry and needs."""

    def __init__(self, items: list[PolicyItem], tokenizer: Tokenizer | None = None):
        self.lexical = LexicalIndex.build([i.item_id for i in items], [f"{i.section} {i.text}" for i in items], tokenizer or Tokenizer())

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
    reasons: list[str]
    uncertain: list[str]
    benefit: list[str]
    departments: dict[str, list[str]]
    score: float
    start: int
    end: int


class MatchResult(BaseModel):
    total: int
    items: list[MatchedItem]
    profile: Profile


class Fit(BaseModel):
    """How one beneficiary tag fits the profile: True, False, or None (the profile does not say)."""

    fits: bool | None
    reason: str = ""
    specific: bool = True


def fit(tag: Tag, profile: Profile) -> Fit:
    size, size_reason = profile.size()
    quoted = f"条款写明“{tag.evidence}”"
    label = tag.value
    if label == "所有经营主体":
        return Fit(fits=True, reason=f"面向各类经营主体（{quoted}）", specific=False)
    if label in ("小微企业", "中小企业"):
        allowed = ("微型", "小型", "小微") if label == "小微企业" else ("微型", "小型", "小微", "中型")
        if profile.is_individual_business or profile.ownership == "individual":
            return Fit(fits=False)  # an individual business is not an enterprise under the size rules
        if size is None:
            return Fit(fits=None, reason=f"{quoted}，请核实企业规模是否属于{label}")
        return Fit(fits=size in allowed, reason=f"{size_reason}；{quoted}")
    checks = {
        "个体工商户": (
            profile.is_individual_business
            if profile.is_individual_business is not None
            else (profile.ownership == "individual" if profile.ownership else None),
            "个体工商户",
        ),
        "民营企业": (profile.ownership in ("private", "individual") if profile.ownership else None, "民营"),
        "外贸企业": (profile.exports, "有出口业务"),
        "科技型企业": (
            True
            if (profile.has_rnd or profile.is_high_tech)
            else (False if profile.has_rnd is False and profile.is_high_tech is False else None),
            "有研发活动",
        ),
        "高新技术企业": (profile.is_high_tech, "是高新技术企业"),
        "园区企业": (True if profile.park else None, f"位于{profile.park}"),
        "新办企业": ((profile.years() or 0) <= 3 if profile.years() is not None else None, f"成立于{profile.founded_year}年"),
        "上市后备企业": (True if re.search(r"上市|挂牌", profile.needs_text()) else None, "有上市或挂牌打算"),
        "外资企业": (profile.ownership == "foreign" if profile.ownership else None, "外资"),
        "大型企业": (True if profile.ownership == "state" or size == "大型" else (False if size else None), "属国有或大型企业"),
        "小规模纳税人": (True if size in ("微型", "小微") or profile.is_individual_business else None, "规模小，可能是小规模纳税人"),
        "政府采购供应商": (
            True if re.search(r"投标|中标|采购|招标", f"{profile.needs_text()}{profile.industry or ''}") else None,
            "参与政府采购",
        ),
        "充换电设施项目": (True if "充电" in profile.needs_text() else None, "建设充换电设施"),
        "用人单位": (True if re.search(r"招工|招聘|用工|招用", profile.needs_text()) else None, "有招工需求"),
    }
    for group_pattern, group in INDUSTRY_GROUPS:
        if label == group:
            fits = bool(group_pattern.search(profile.industry)) if profile.industry else None
            return Fit(fits=fits, reason=f"行业为{profile.industry}；{quoted}" if fits else f"{quoted}，请核实企业是否属于{label}")
    if label in checks:
        fits, fact = checks[label]
        reason = f"企业{fact}；{quoted}" if fits else f"{quoted}，请核实企业是否属于{label}"
        return Fit(fits=fits, reason=reason)
    return Fit(fits=None, reason=quoted)


def place_fits(item: PolicyItem, profile: Profile) -> bool | None:
    """National items apply everywhere; Guangyuan's apply within Guangyuan."""
    if item.region in ("", "全国"):
        return True
    place = f"{profile.region or ''}{profile.park or ''}"
    if not place:
        return None
    if "广元" in item.region:
        return in_guangyuan(place) or bool(profile.park)
    return item.region in place


def need_benefits(profile: Profile) -> set[str]:
    text = f"{profile.needs_text()}；{profile.industry or ''}"
    wanted = {benefit for pattern, benefit in NEED_BENEFITS if pattern.search(text)}
    if profile.exports:
        wanted.add("物流/外贸")
    return wanted


def group_words(profile: Profile) -> list[str]:
    """The words policy texts use for the groups this enterprise is in."""
    size, _ = profile.size()
    words = []
    if size in ("微型", "小型", "小微"):
        words += ["小微企业", "中小企业"]
    elif size == "中型":
        words.append("中小企业")
    if profile.is_individual_business or profile.ownership == "individual":
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
    if (profile.years() or 99) <= 3:
        words += ["设立", "登记"]
    return words


def need_words(profile: Profile) -> list[str]:
    """Two-character words of the needs and industry, to find items that speak of them."""
    text = re.sub(r"[想要我们需要希望想办的了]", " ", f"{profile.needs_text()} {profile.industry or ''}")
    words = set()
    for chunk in re.findall(r"[\u4e00-\u9fff]{2,}", text):
        words.update(chunk[i : i + 2] for i in range(len(chunk) - 1))
    return sorted(words)


def match_item(item: PolicyItem, profile: Profile, relevance: float = 0.0) -> MatchedItem | None:
    place = place_fits(item, profile)
    if place is False:
        return None
    fits = [(tag, fit(tag, profile)) for tag in item.beneficiaries]
    if not fits and item.level != "国家":
        # A plan measure that names no group addresses every business.
        fits = [
            (
                Tag(value="所有经营主体", evidence=item.title, start=item.start, end=item.start),
                Fit(fits=True, reason="面向各类经营主体", specific=False),
            )
        ]
    yes = [(tag, f) for tag, f in fits if f.fits]
    specific_yes = [(tag, f) for tag, f in yes if f.specific]
    unknown = [(tag, f) for tag, f in fits if f.fits is None and f.specific]
    specific_tags = [tag for tag, f in fits if f.specific]
    if not specific_yes and not unknown:
        # A law article that names groups this enterprise is not in does not apply to it, though it says
        # "企业" in passing; a plan measure also addresses every business unless it names no one at all.
        if not yes or (specific_tags and item.level == "国家"):
            return None
    wanted = need_benefits(profile)
    served = [b for b in item.values("benefits") if b in wanted]
    if not specific_yes and not served:
        return None  # it addresses every business, or groups the profile leaves open, but serves no stated need
    reasons = [f.reason for _, f in specific_yes] or [f.reason for _, f in yes if f.fits]
    uncertain = [f.reason for _, f in unknown if f.reason]
    if place is None:
        uncertain.append(f"适用地区为{item.region}，请核实企业所在地")
    for condition in item.conditions:
        if condition.value in ("规模上限", "金额"):
            uncertain.append(f"条件“{condition.evidence}”需对照企业实际情况核实")
    if served:
        reasons.append(f"符合需求“{profile.needs_text() or profile.industry}”：属{'、'.join(served)}类政策")
    overlap = [w for w in need_words(profile) if w in item.text]
    places = [t.value for t in item.places if t.value in f"{profile.region or ''}{profile.park or ''}"]
    if places:
        reasons.append(f"条款点名{'、'.join(places)}，与企业所在地一致")
    # Serving a stated need counts most, then how much the text speaks of the needs and the industry (BM25),
    # then naming the enterprise's own group.
    score = (
        3.0 * len(served)
        + 6.0 * relevance
        + (2.0 + 0.5 * min(len(specific_yes) - 1, 2) if specific_yes else 0.0)
        + 0.3 * len(unknown)
        + 0.2 * min(len(overlap), 6)
        + 1.5 * len(places)
        + (0.5 if item.level == "市级" else 0.0)
    )
    return MatchedItem(
        item_id=item.item_id,
        doc_title=item.doc_title,
        doc_number=item.doc_number,
        section=item.section,
        title=item.title,
        text=item.text,
        reasons=list(dict.fromkeys(reasons)),
        uncertain=list(dict.fromkeys(uncertain)),
        benefit=item.values("benefits"),
        departments={"lead": item.lead, "cooperating": item.cooperating},
        score=round(score, 2),
        start=item.start,
        end=item.end,
    )


def match(items: list[PolicyItem], profile: Profile, limit: int | None = None, index: ItemIndex | None = None) -> MatchResult:
    index = index or ItemIndex(items)
    needs = index.relevance(f"{profile.needs_text()} {profile.industry or ''}")
    groups = index.relevance(" ".join(group_words(profile)))
    # How much the text speaks of the needs counts most; of the enterprise's groups, less.
    relevance = {i.item_id: needs.get(i.item_id, 0.0) + 0.4 * groups.get(i.item_id, 0.0) for i in items}
    matched = [m for m in (match_item(item, profile, relevance[item.item_id]) for item in items) if m is not None]
    matched.sort(key=lambda m: (-m.score, m.item_id))
    return MatchResult(total=len(matched), items=matched[:limit] if limit else matched, profile=profile)
