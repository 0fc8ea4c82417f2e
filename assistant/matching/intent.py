"""Reading what a question in everyday words says about the enterprise: whether it asks which policies apply
("哪些政策适用于我们"), and the profile it describes ("我们是一家做猕猴桃加工的小微企业，在苍溪县…").
What the question does not say stays unknown.
"""

import re

from assistant.matching.matcher import MatchResult
from assistant.matching.profile import OWNERSHIP_NAMES, Profile
from assistant.vocabulary import COUNTIES, PARKS

# "哪些政策适用于我们", "有哪些政策可以用", "能享受什么政策" …
MATCHING_QUESTION = re.compile(
    r"(哪些|什么|啥)(优惠)?政策.{0,6}(适用|可以用|能用|能享受|可以享受|用得上)|适用于(我|我们)|(能|可以)享受(哪些|什么|啥)"
)
SELF_DESCRIPTION = re.compile(r"我们是|我是|我们公司|本公司|我们企业|我们厂|我家")
SIZE_WORDS = [("小微", "小微"), ("微型", "微型"), ("小型", "小型"), ("中型", "中型"), ("大型", "大型")]
INDUSTRY = re.compile(r"(?:做|从事|经营|开)([\u4e00-\u9fff]{2,8}?)(?:的|生意|行业)|一家([\u4e00-\u9fff]{2,8}?)(?:企业|公司|厂|店)")
NEED = re.compile(r"(?:想|要|需要|打算|准备|希望)([^，。？！,?!、；;]{2,12})")  # "想贷款、招工" is two needs, as the form splits it


def is_matching_question(question: str) -> bool:
    return bool(MATCHING_QUESTION.search(question))


def infer_profile(question: str) -> Profile:
    """A profile read from a question in everyday words; what it does not say stays unknown."""
    region = next((name for name in COUNTIES if name in question), None)
    park = next((name for name in PARKS if name in question), None)
    size = next((label for word, label in SIZE_WORDS if word in question), None)
    industry = None
    if m := INDUSTRY.search(question):
        industry = next(g for g in m.groups() if g)
        industry = None if re.search(r"小微|微型|小型|中型|大型|民营", industry) else industry
    individual = True if re.search(r"个体户|个体工商户", question) else None
    needs = [m.group(1) for m in NEED.finditer(question) if not MATCHING_QUESTION.search(m.group(0))]
    return Profile(
        region=region,
        park=park,
        industry=industry,
        declared_size=size if not individual else None,
        ownership="private" if "民营" in question else ("individual" if individual else None),
        is_individual_business=individual,
        exports=True if re.search(r"出口|外贸", question) else None,
        is_high_tech=True if "高新技术企业" in question else None,
        has_rnd=True if "研发" in question else None,
        needs=needs,
    )


def describe(profile: Profile) -> str:
    """The profile in words, for the user to check."""
    size, how = profile.size()
    parts = [
        profile.region and f"地区：{profile.region}",
        profile.park and f"园区：{profile.park}",
        profile.industry and f"行业：{profile.industry}",
        size and f"规模：{size}（{how}）",
        profile.taxable_income_wan is not None and f"年应纳税所得额：{profile.taxable_income_wan:g}万元",
        profile.ownership and f"性质：{OWNERSHIP_NAMES[profile.ownership]}",
        profile.founded_year and f"成立：{profile.founded_year}年",
        profile.is_high_tech and "高新技术企业",
        profile.exports and "有出口",
        profile.has_rnd and "有研发",
        profile.needs and f"需求：{'、'.join(profile.needs)}",
    ]
    return "；".join(p for p in parts if p) or "（没有读出企业情况）"


def reply_text(profile: Profile, result: MatchResult) -> str:
    """A matching result as the answer to a "which policies apply" question: the profile as understood, to be
    corrected, then the best items with the reason each applies and whom to contact."""
    lines = [f"我理解的企业情况：{describe(profile)}。如有不符，请在“政策匹配”页修改后重新匹配。"]
    if not result.total:
        return "\n".join(lines + ["没有找到适用的政策条款。补充企业规模、行业或需求后再试。"])
    lines.append(f"共有 {result.total} 项政策适用，最相关的 {len(result.items)} 项：")
    for n, m in enumerate(result.items, start=1):
        contact = f"；联系：{'、'.join(m.departments['lead'])}" if m.departments["lead"] else ""
        lines.append(f"{n}. 《{m.doc_title}》{m.section.split(' > ')[-1]}：{m.reasons[0] if m.reasons else ''}{contact}")
    return "\n".join(lines)
