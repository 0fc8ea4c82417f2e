"""An enterprise's profile (企业画像) and what its figures make it under national rules: its SME size class
(工信部联企业〔2011〕300号), whether it is a 小型微利企业 for enterprise income tax, and whether it can be a
小规模纳税人 for VAT. A field left out is unknown, and so is any status it would decide.
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Ownership = Literal["private", "state", "foreign", "individual"]
SizeClass = Literal["微型", "小型", "小微", "中型", "大型"]
OWNERSHIP_NAMES = {"private": "民营", "state": "国有", "foreign": "外资", "individual": "个体工商户"}

# National SME size rules, by sector: for micro, small and medium in turn, the limits on employees ("e"),
# revenue ("r", 万元) and total assets ("a", 万元); a firm is in the class when any of its known figures is
# below that limit. Sectors not listed use the industrial rule.
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
# 小型微利企业 as the tax authorities apply it today (财政部 税务总局公告2023年第12号, which replaced the limits
# of 实施条例第九十二条): every limit must hold, each an upper bound ("不超过").
SMALL_LOW_PROFIT = {
    "employees": (300, "从业人数{:g}人"),
    "total_assets_wan": (5000, "资产总额{:g}万元"),
    "taxable_income_wan": (300, "年应纳税所得额{:g}万元"),
}
# 增值税法第九条: 年应征增值税销售额未超过五百万元 (revenue stands in for taxable sales).
SMALL_SCALE_TAXPAYER_WAN = 500

# Bounds on a profile, whichever face it comes from: every field is short text or a finite figure.
MAX_FIELD = 200
MAX_NEEDS = 20


@dataclass
class Status:
    """Whether the enterprise is in a group defined by figures: True, False or None (its figures do not say), and why."""

    holds: bool | None
    reason: str = ""


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
    taxable_income_wan: float | None = Field(None, ge=-1e12, le=1e12)  # 年应纳税所得额; a loss is negative
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

    def is_individual(self) -> bool | None:
        if self.is_individual_business is not None:
            return self.is_individual_business
        return self.ownership == "individual" if self.ownership else None

    def small_low_profit(self) -> Status:
        """小型微利企业: every limit known to hold, or one known to be exceeded."""
        if self.is_individual():
            return Status(False, "个体工商户缴纳个人所得税，不适用企业所得税的小型微利企业政策")
        figures = {field: getattr(self, field) for field in SMALL_LOW_PROFIT}
        over = [SMALL_LOW_PROFIT[f][1].format(v) for f, v in figures.items() if v is not None and v > SMALL_LOW_PROFIT[f][0]]
        if over:
            return Status(False, f"{'、'.join(over)}，超过小型微利企业标准")
        known = "、".join(SMALL_LOW_PROFIT[f][1].format(v) for f, v in figures.items() if v is not None)
        if all(v is not None for v in figures.values()):
            return Status(True, f"{known}，均未超过小型微利企业标准（300人、5000万元、300万元）")
        missing = "、".join(SMALL_LOW_PROFIT[f][1].split("{")[0] for f, v in figures.items() if v is None)
        return Status(None, f"请核实{missing}是否未超过小型微利企业标准（300人、5000万元、300万元）")

    def small_scale_taxpayer(self) -> Status:
        """小规模纳税人: annual sales of at most 500万元 (revenue stands in for them)."""
        revenue = self.annual_revenue_wan
        if revenue is None:
            return Status(None, f"请核实年应税销售额是否未超过{SMALL_SCALE_TAXPAYER_WAN}万元（小规模纳税人标准）")
        if revenue <= SMALL_SCALE_TAXPAYER_WAN:
            return Status(True, f"营业收入{revenue:g}万元，未超过小规模纳税人标准{SMALL_SCALE_TAXPAYER_WAN}万元")
        return Status(False, f"营业收入{revenue:g}万元，超过小规模纳税人标准{SMALL_SCALE_TAXPAYER_WAN}万元")

    def years(self) -> int | None:
        return date.today().year - self.founded_year if self.founded_year else None

    def place(self) -> str:
        """Where the enterprise is, county and park together ("" when unknown)."""
        return f"{self.region or ''}{self.park or ''}"

    def needs_text(self) -> str:
        return "；".join(self.needs)
