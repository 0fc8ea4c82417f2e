"""The domain's shared words, each in one home: Guangyuan's places, the 责任单位 line and its units, the
administrative level tiers, and the sentence an answer opens with when no clause answers the question.
Every stage reads them from here, so a new county or park is added once.
"""

import re

# Guangyuan's counties and districts, and its parks, as policy texts and enterprises name them.
COUNTIES = ["利州区", "昭化区", "朝天区", "旺苍县", "青川县", "剑阁县", "苍溪县"]
PARKS = ["广元经济技术开发区", "广元国际铁路港", "市天然气综合利用工业园区"]
# Places a policy text may name, in the order item tags list them (经开区 is the short name of the first park).
PLACE_NAMES = [*COUNTIES, PARKS[0], "经开区", *PARKS[1:]]
CITY = "广元"
# A question that names the city, one of its counties by its short name (苍溪, 利州) or 经开区 is about this region's
# policies: search favours the documents whose region it is (`place_weight`). Broader than `in_guangyuan`, which
# reads a profile's place and wants the county's full name.
CITY_REGION = "四川省广元市"
NAMES_THE_CITY = re.compile("|".join([CITY, *(county[:2] for county in COUNTIES), "经开区"]))

# The line of a plan's measure that names who carries it out: "责任单位：市发展改革委；各县区政府".
DUTY_LINE = re.compile(r"^责任单位[:：]")
# The frame of a notice (公文) that transmits a policy: the line naming its recipients ("各县（区）人民政府，市级有关
# 部门……：") and the line handing the policy over ("……现印发给你们，请认真抓好贯彻落实。"). They state no rule.
# A recipients line may follow the document number on the same line ("…意见国发〔2019〕5号各省、…各直属机构：").
NOTICE_FRAME = re.compile(r"(?:^|号)各(?:(?!下列|以下|如下|应当|可以)[^。；：:])*[：:]$|印发给你们|请认真(?:抓好)?贯彻(?:落实|执行)")

REFUSAL = "现有政策条款中没有找到能直接回答这个问题的规定。"


def without_city_name(question: str) -> str:
    """The question with 广元(市) taken out ("在广元接燃气要多久？" → "在接燃气要多久？"); unchanged if nothing is left."""
    return re.sub(f"{CITY}市?", "", question).strip() or question


def in_guangyuan(place: str) -> bool:
    """A place text (county, park, address) that lies in Guangyuan."""
    return CITY in place or any(name in place for name in COUNTIES)


def duty_units(duty_line: str) -> tuple[str, str]:
    """`责任单位：A；B、C` → ("A", "B、C"): the units before the `；` lead, those after cooperate. The list ends
    at its first `。`: the plan's first duty line goes on to explain itself ("分号前面为牵头单位，后面为配合单位…")."""
    units = DUTY_LINE.sub("", duty_line.strip()).strip().split("。")[0]
    lead, _, cooperating = units.partition("；")
    return lead.strip(), cooperating.strip()


def split_units(units: str) -> list[str]:
    """ "市发展改革委、市级有关部门（单位）" → the units; 、 inside brackets does not separate."""
    return [u.strip() for u in re.split(r"、(?![^（(]*[）)])", units) if u.strip()]


def level_tier(level: str) -> str:
    """ "国家/法律" → "国家": the administrative level, without the kind of document."""
    return level.split("/", 1)[0]


# Shown beside a quote whose text was read by OCR from a scanned page: the reader checks it against the scan.
OCR_NOTE = "OCR识别，请核对原件"
