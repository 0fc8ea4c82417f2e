"""Policy items: the "policy portrait" (政策画像) of the corpus. One item is one measure of a plan or one
article of a law that grants something or sets a duty towards enterprises, tagged by rules: beneficiaries,
industries, places, benefit types, stated conditions, departments and the document's validity.

The rules are dictionaries and patterns over the verbatim text, so extraction is offline and
reproducible; every tag keeps the span of source text it came from (offsets in the document's text).
Items are built at ingest beside the chunks and reused for unchanged documents.
"""

import re
from collections.abc import Iterable

from pydantic import BaseModel

from assistant.documents.chunking import Chunk
from assistant.documents.loaders.base import LoadedDocument
from assistant.documents.loaders.metadata import EFFECTIVE, find_date
from assistant.vocabulary import DUTY_LINE, PARKS, PLACE_NAMES, duty_units, level_tier, split_units

# Beneficiaries: label → the words that name them in policy texts.
BENEFICIARIES: dict[str, list[str]] = {
    "小型微利企业": ["小型微利企业"],
    "小微企业": ["小微企业", "小型微型企业", "小微经营主体", "小微"],
    "中小企业": ["中小企业", "中小微企业"],
    "个体工商户": ["个体工商户", "个体户", "个体经营"],
    "民营企业": ["民营企业", "民营经济组织", "民营经济", "民间投资"],
    "外贸企业": ["外贸", "进出口", "出口", "跨境电商"],
    "外资企业": ["外商投资", "外资企业", "外资"],
    "小规模纳税人": ["小规模纳税人"],
    "大型企业": ["国有大型企业", "大型企业", "国有企业"],
    "政府采购供应商": ["供应商"],
    "科技型企业": ["科技型", "科技成果", "研究开发", "研发", "技术转让", "技术创新"],
    "高新技术企业": ["高新技术企业"],
    "园区企业": ["园区", "开发区", "铁路港"],
    "新办企业": ["新办", "新设立", "新开办", "初创", "创办", "开办企业", "设立登记"],
    "建筑/工程企业": ["工程建设", "建设工程", "工程项目", "招标投标", "招投标", "投标", "施工"],
    "物流企业": ["物流", "多式联运", "班列", "货运", "快递"],
    "农业经营主体": ["农业", "农村", "三农", "农户", "专合社", "合作社", "农产品", "乡村"],
    "上市后备企业": ["上市", "新三板", "挂牌"],
    "充换电设施项目": ["充换电设施"],
    "用人单位": ["用人单位", "招用", "吸纳"],
    "所有经营主体": ["经营主体", "市场主体", "企业", "纳税人", "土地使用者"],
}
INDUSTRIES: dict[str, list[str]] = {
    "农产品加工": ["农产品加工", "猕猴桃", "食品"],
    "铝基材料": ["铝基", "铝产业", "铝"],
    "物流": ["物流", "货运", "多式联运"],
    "建筑": ["建筑业", "工程建设", "建设工程"],
    "数字经济": ["数字经济", "软件", "电子商务", "跨境电商"],
    "能源化工": ["天然气化工", "清洁能源化工", "天然气综合利用"],
    "文旅": ["文旅", "旅游"],
    "商贸": ["商贸", "零售", "餐饮"],
}
BENEFITS: dict[str, list[str]] = {
    "资金补贴/奖励": ["补贴", "补助", "奖励", "资助", "奖补", "专项资金", "贴息", "引导基金"],
    "税费减免": ["税收优惠", "减免", "免征", "减征", "减按", "加计扣除", "退税", "免税", "收费减免", "降费", "免收", "抵免", "抵扣"],
    "融资/担保": ["融资", "贷款", "担保", "授信", "信贷", "续贷", "保函", "金融"],
    "用地": ["用地", "土地", "标准地", "厂房", "容积率", "土地使用权"],
    "水电气": ["用电", "用水", "用气", "供电", "供水", "供气", "电力", "接电", "水电气", "报装", "燃气", "天然气"],
    "审批/办事便利": [
        "审批",
        "一网通办",
        "一件事",
        "许可",
        "登记",
        "证照",
        "政务服务",
        "帮办",
        "代办",
        "容缺",
        "网上办",
        "办理时限",
        "注销",
        "营业执照",
    ],
    "用工/人才": ["用工", "就业", "招聘", "人才", "职业技能", "培训", "社会保险", "工伤保险", "劳务"],
    "法律/权益保护": [
        "合法权益",
        "权益",
        "执法",
        "行政检查",
        "诉讼",
        "仲裁",
        "执行",
        "公平竞争",
        "拖欠",
        "账款",
        "知识产权",
        "投诉",
        "维权",
        "双随机",
        "监管",
    ],
    "物流/外贸": ["物流", "班列", "口岸", "进出口", "外贸", "跨境", "多式联运", "货运", "通关"],
}
# Conditions stated in the text: size limits, amounts, rates, deadlines.
CONDITIONS: dict[str, re.Pattern] = {
    "规模上限": re.compile(r"[\d.]+\s*(?:千瓦|万元|亿元|人)及?以下|[\d.]+\s*(?:千瓦|万元|亿元|人)以(?:上|内)"),
    "金额": re.compile(r"(?:单户|每户|每家|最高|不超过)[^，。；]{0,12}?[\d.一二三四五六七八九十百千万]+\s*(?:万元|亿元|元)"),
    "比例": re.compile(r"[\d.]+\s*[%％‰]|百分之[一二三四五六七八九十百零〇点\d.]+|千分之[\d.]+"),
    "期限": re.compile(r"[\d一二三四五六七八九十两]+\s*个?(?:工作日|日|天|个月|年)(?:内|以内)?"),
}
DEPARTMENT = re.compile(r"(?:由|向)((?:国务院|县级以上|省级|设区的市|地方)?[^，。；：、]{0,20}?(?:部门|机关|机构|委员会|局))")
YEAR_IN_TITLE = re.compile(r"(20\d{2})年")


class Tag(BaseModel):
    """An extracted value and the source text it came from: `document.text[start:end] == evidence`."""

    value: str
    evidence: str
    start: int
    end: int


class PolicyItem(BaseModel):
    item_id: str  # "<file>#<section path>"
    doc_id: str
    doc_title: str
    doc_number: str = ""
    level: str = ""  # 国家 / 省级 / 市级 …
    region: str = ""
    section: str
    title: str
    text: str  # verbatim: document.text[start:end]
    start: int
    end: int
    beneficiaries: list[Tag] = []
    industries: list[Tag] = []
    places: list[Tag] = []  # counties and parks the text names
    benefits: list[Tag] = []
    conditions: list[Tag] = []
    lead: list[str] = []
    cooperating: list[str] = []
    departments: list[Tag] = []  # the 责任单位 line, or "由…部门" phrases of a law
    date: str = ""  # the document's date (from its header or first page)
    valid_from: Tag | None = None  # "自…起施行"
    valid_until: Tag | None = None  # a one-year plan ends with its year
    refined: bool = False  # tags checked and completed by the language model (assistant/refine.py)

    def values(self, field: str) -> list[str]:
        return list(dict.fromkeys(tag.value for tag in getattr(self, field)))


# Words by which a text addresses the enterprises of a park, not just names one ("入驻园区的企业").
PARK_AUDIENCE = re.compile(r"园区(?:内|的)?企业|入园|入驻园区|园区内")


def for_park_enterprises(section: str, text: str) -> bool:
    """A measure for a park's enterprises: its heading names a park or 园区, or its text addresses the firms in one.
    "四港（铁路港、公路港…）" or "在政务服务大厅、产业园区设立…窗口" name a park in passing, for every business."""
    return "园区" in section or any(park in section for park in PARKS) or bool(PARK_AUDIENCE.search(text))


def without_duty_lines(text: str) -> str:
    """The text with its 责任单位 lines blanked out, the same length so that offsets still hold."""
    return "\n".join(" " * len(line) if DUTY_LINE.match(line.strip()) else line for line in text.split("\n"))


def find_tags(text: str, offset: int, dictionary: dict[str, list[str]]) -> list[Tag]:
    """One tag per label whose words occur, at the first occurrence (longest word first at a position)."""
    tags = []
    for label, words in dictionary.items():
        hits = [(m.start(), m.end()) for w in words for m in re.finditer(re.escape(w), text)]
        if hits:
            start, end = min(hits, key=lambda h: (h[0], -h[1]))
            tags.append(Tag(value=label, evidence=text[start:end], start=offset + start, end=offset + end))
    return tags


def pattern_tags(text: str, offset: int) -> list[Tag]:
    tags = []
    for label, pattern in CONDITIONS.items():
        for m in pattern.finditer(text):
            tags.append(Tag(value=label, evidence=m.group(0), start=offset + m.start(), end=offset + m.end()))
    return sorted(tags, key=lambda t: t.start)


def department_tags(text: str, offset: int) -> tuple[list[str], list[str], list[Tag]]:
    """Lead and cooperating units from a 责任单位 line; else the authorities a law article names."""
    for line in re.finditer(r"[^\n]+", text):
        stripped = line.group(0).strip()
        if DUTY_LINE.match(stripped):
            start = offset + line.start() + (len(line.group(0)) - len(line.group(0).lstrip()))
            lead, cooperating = duty_units(stripped)
            tag = Tag(value="责任单位", evidence=stripped, start=start, end=start + len(stripped))
            return split_units(lead), split_units(cooperating), [tag]
    tags = [Tag(value=m.group(1), evidence=m.group(1), start=offset + m.start(1), end=offset + m.end(1)) for m in DEPARTMENT.finditer(text)]
    return list(dict.fromkeys(t.value for t in tags)), [], tags


def validity(document: LoadedDocument) -> tuple[Tag | None, Tag | None]:
    """In force from the 施行 date a law states, or from the document's date; a plan titled for one year ends with it."""
    start = None
    if m := EFFECTIVE.search(document.text):  # the same statement the document's 施行日期 is read from
        start = Tag(value=find_date(m.group(1)), evidence=m.group(0), start=m.start(), end=m.end())
    until = None
    if document.level.startswith("市级") and (m := YEAR_IN_TITLE.search(document.title)):
        at = document.text.find(document.title)
        if at >= 0:
            until = Tag(value=f"{m.group(1)}-12-31", evidence=document.title, start=at, end=at + len(document.title))
    return start, until


def is_policy(item: PolicyItem, document: LoadedDocument) -> bool:
    """A plan's measures all address enterprises; a law article counts when it grants something to, or sets
    a duty towards, a named group of enterprises."""
    if document.level.startswith(("市级", "省级", "县级")):
        return True
    specific = [t for t in item.beneficiaries if t.value != "所有经营主体"]
    return bool(specific) or (bool(item.benefits) and bool(item.beneficiaries))


def group_by_section(chunks: Iterable[Chunk]) -> list[list[Chunk]]:
    groups: dict[str, list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: c.start):
        groups.setdefault(chunk.section, []).append(chunk)
    return list(groups.values())


def item_key(doc_id: str, section: str) -> str:
    """An item's id: its document and section, so that every chunk of the section names it."""
    return f"{doc_id}#{section}"


def extract_items(document: LoadedDocument, doc_id: str, chunks: list[Chunk]) -> list[PolicyItem]:
    valid_from, valid_until = validity(document)
    items = []
    for group in group_by_section(chunks):
        start, end = group[0].start, group[-1].end
        text = document.text[start:end]
        section = group[0].section
        if not section or section == document.title:
            continue  # the preamble or letterhead before the first measure or article
        lead, cooperating, departments = department_tags(text, start)
        # The units of a 责任单位 line act; they are not who benefits, nor where ("广元经济技术开发区管委会" is no
        # 园区企业, and names no place the measure is for).
        addressed = without_duty_lines(text)
        item = PolicyItem(
            item_id=item_key(doc_id, section),
            doc_id=doc_id,
            doc_title=document.title,
            doc_number=document.doc_number,
            level=level_tier(document.level),
            region=document.region,
            section=section,
            title=section.split(" > ")[-1],
            text=text,
            start=start,
            end=end,
            beneficiaries=[
                tag
                for tag in find_tags(addressed, start, BENEFICIARIES)
                if tag.value != "园区企业" or for_park_enterprises(section, addressed)
            ],
            industries=find_tags(addressed, start, INDUSTRIES),
            places=find_tags(addressed, start, {place: [place] for place in PLACE_NAMES}),
            benefits=find_tags(addressed, start, BENEFITS),
            conditions=pattern_tags(text, start),
            lead=lead,
            cooperating=cooperating,
            departments=departments,
            date=document.date,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        if is_policy(item, document):
            items.append(item)
    return items
