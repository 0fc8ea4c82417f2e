"""Whether a policy item applies to an enterprise, and why: each beneficiary group the item names is checked
against the profile (✓ holds, ✗ does not, ？ the profile does not say), and so is its place.

A hard mismatch excludes the item: a size class the figures rule out, another county or park, a clause for
个体工商户 against a company, a measure for another sector. Unknown stays unknown: a condition the profile
leaves open is listed for the reviewer to check, never a reason to exclude.
"""

import re
from dataclasses import dataclass, field
from functools import cache

from assistant.documents.items import BENEFICIARIES, PolicyItem, Tag, find_tags
from assistant.matching.profile import Profile, Status
from assistant.vocabulary import in_guangyuan

INDUSTRY_GROUPS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"农|种植|养殖|猕猴桃|茶|果|蔬|合作社|农产品|粮"), "农业经营主体"),
    (re.compile(r"物流|运输|货运|快递|仓储"), "物流企业"),
    (re.compile(r"建筑|工程|施工|装修|建设"), "建筑/工程企业"),
]
SMALL = ("微型", "小型", "小微")
# Groups that a document's title can address as a whole population (科技成果转化法's "科技" names an activity).
POPULATIONS = {"个体工商户", "小微企业", "中小企业", "民营企业", "农业经营主体", "外资企业"}
# Words by which a law article addresses every business, whatever groups it also names.
BROAD = ("经营主体", "市场主体")
# Statuses that a national article grants its relief to (the 15 % rate of 高新技术企业, the 20 % of 小型微利企业):
# an enterprise found not to hold any it names is out, whatever else the article names in passing (研究开发 in
# the definition of 高新技术企业). Not 小规模纳税人: the VAT articles that name it state the general rule too.
QUALIFICATIONS = {"高新技术企业", "小型微利企业"}


@dataclass
class Fit:
    """How one beneficiary tag fits the profile: True, False, or None (the profile does not say)."""

    fits: bool | None
    reason: str = ""
    specific: bool = True  # False for "every business": it says nothing about this enterprise in particular
    broad: bool = False  # names every 经营主体 or 市场主体 outright, not just "企业" inside a group's name


@dataclass
class Eligibility:
    """An item that applies (or may apply) to the profile: the groups that hold and those left open."""

    holds: list[Fit]  # every group that fits, specific ones first
    unknown: list[Fit]  # specific groups the profile leaves open
    place_known: bool
    specific: bool = field(init=False)  # some group that fits is specific to this enterprise

    def __post_init__(self):
        self.specific = any(f.specific for f in self.holds)


def status_fit(status: Status, quoted: str) -> Fit:
    if status.holds is None:
        return Fit(fits=None, reason=f"{quoted}，{status.reason}")
    return Fit(fits=status.holds, reason=f"{status.reason}；{quoted}" if status.holds else "")


class Judge:
    """Checks items against one profile; what the profile's figures make it is worked out once."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.size, self.size_reason = profile.size()
        self.individual = profile.is_individual()
        needs = profile.needs_text()
        size = self.size
        # Label → (fits, the fact of the profile that decides it).
        self.checks: dict[str, tuple[bool | None, str]] = {
            "个体工商户": (self.individual, "个体工商户"),
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
            "上市后备企业": (True if re.search(r"上市|挂牌", needs) else None, "有上市或挂牌打算"),
            "外资企业": (profile.ownership == "foreign" if profile.ownership else None, "外资"),
            "大型企业": (True if profile.ownership == "state" or size == "大型" else (False if size else None), "属国有或大型企业"),
            "政府采购供应商": (
                True if re.search(r"投标|中标|采购|招标", f"{needs}{profile.industry or ''}") else None,
                "参与政府采购",
            ),
            "充换电设施项目": (True if "充电" in needs else None, "建设充换电设施"),
            "用人单位": (True if re.search(r"招工|招聘|用工|招用|招人|工人", needs) else None, "有招工需求"),
        }
        self.statuses = {"小型微利企业": profile.small_low_profit(), "小规模纳税人": profile.small_scale_taxpayer()}

    def fit(self, tag: Tag) -> Fit:
        profile = self.profile
        quoted = f"条款写明“{tag.evidence}”"
        label = tag.value
        if label == "所有经营主体":
            return Fit(fits=True, reason=f"面向各类经营主体（{quoted}）", specific=False, broad=tag.evidence in BROAD)
        if label in ("小微企业", "中小企业"):
            allowed = SMALL if label == "小微企业" else (*SMALL, "中型")
            if self.individual:
                return Fit(fits=False)  # an individual business is not an enterprise under the size rules
            if self.size is None:
                return Fit(fits=None, reason=f"{quoted}，请核实企业规模是否属于{label}")
            return Fit(fits=self.size in allowed, reason=f"{self.size_reason}；{quoted}")
        if label in self.statuses:
            return status_fit(self.statuses[label], quoted)
        for group_pattern, group in INDUSTRY_GROUPS:
            if label == group:
                fits = bool(group_pattern.search(profile.industry)) if profile.industry else None
                return Fit(fits=fits, reason=f"行业为{profile.industry}；{quoted}" if fits else f"{quoted}，请核实企业是否属于{label}")
        if label in self.checks:
            fits, fact = self.checks[label]
            return Fit(fits=fits, reason=f"企业{fact}；{quoted}" if fits else f"{quoted}，请核实企业是否属于{label}")
        return Fit(fits=None, reason=quoted)

    def place_fits(self, item: PolicyItem) -> bool | None:
        """National items apply everywhere; Guangyuan's apply within Guangyuan, a county's within it."""
        if item.region in ("", "全国"):
            return True
        place = self.profile.place()
        if not place:
            return None
        if "广元" in item.region:
            return in_guangyuan(place) or bool(self.profile.park)
        return item.region in place

    def assess(self, item: PolicyItem) -> Eligibility | None:
        """The item's fit, or None when the profile rules it out."""
        place = self.place_fits(item)
        if place is False:
            return None
        fits = [self.fit(tag) for tag in item.beneficiaries]
        if item.level == "国家" and lacks_qualification(item, fits):
            return None
        addressed = [self.fit(tag) for tag in title_groups(item.doc_title)]
        if addressed and all(f.fits is False for f in addressed) and not any(f.fits and f.specific for f in fits):
            # A whole document for groups the enterprise is not in (促进个体工商户发展条例 for a company), unless
            # the article names one it is in (a duty of 大型企业 in 保障中小企业款项支付条例).
            return None
        # The title's groups that fit (or may) count as the article's own: 第十二条 of 保障中小企业款项支付条例 is for a
        # small supplier though it names only the 机关 and 大型企业 that pay it.
        fits += [Fit(fits=f.fits, reason=f.reason.replace("条款写明", "文件名称写明")) for f in addressed if f.fits is not False]
        if not fits and item.level != "国家":
            fits = [Fit(fits=True, reason="面向各类经营主体", specific=False)]  # a plan measure that names no group
        holds = sorted((f for f in fits if f.fits), key=lambda f: not f.specific)
        unknown = [f for f in fits if f.fits is None and f.specific]
        if not any(f.specific for f in holds) and not unknown:
            named = any(f.specific for f in fits)
            # A law article that names only groups this enterprise is not in does not apply to it, though it
            # says "企业" in passing (unless it addresses every 市场主体 too); a plan measure addresses every
            # business unless it names no one at all.
            if not holds or (named and item.level == "国家" and not any(f.broad for f in holds)):
                return None
        return Eligibility(holds=holds, unknown=unknown, place_known=place is True)


def lacks_qualification(item: PolicyItem, fits: list[Fit]) -> bool:
    """The article grants a status of QUALIFICATIONS, and the enterprise holds none of those it names. A status
    named inside 中小高新技术企业 is not who gets the relief: 实施条例第九十七条 gives it to the venture fund that
    invests in one."""
    statuses = [fit for tag, fit in zip(item.beneficiaries, fits) if tag.value in QUALIFICATIONS and not invested_in(item, tag)]
    return bool(statuses) and all(fit.fits is False for fit in statuses)


def invested_in(item: PolicyItem, tag: Tag) -> bool:
    """The tag's word is the tail of 中小高新技术企业 (the company invested in)."""
    at = tag.start - item.start
    return item.text[max(at - 2, 0) : at] == "中小"


@cache
def title_groups(title: str) -> list[Tag]:
    """The groups a document's title addresses as a whole: 个体工商户 in 促进个体工商户发展条例, 中小企业 in
    保障中小企业款项支付条例; its articles are for them even where an article does not repeat it."""
    return [tag for tag in find_tags(title, 0, BENEFICIARIES) if tag.value in POPULATIONS]
