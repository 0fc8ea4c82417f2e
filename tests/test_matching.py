"""Policy items extracted from the real corpus, enterprise profiles, and matching them (rules on real text)."""

import json

from assistant.documents.loaders import load_file
from assistant.documents.refine import refine_item
from assistant.index.ingest import ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.matching.eligibility import Judge
from assistant.matching.intent import describe, infer_profile, is_matching_question
from assistant.matching.matcher import ItemIndex, Matcher, is_park_measure, item_questions
from assistant.matching.profile import Profile
from conftest import CORPUS, PLAN, make_settings, run_cli
from fake_llm import FakeChatServer, Reply

ELECTRICITY = f"{PLAN}#一、开展降本增效攻坚行动 > （十六）降低用电成本"
KIWI = Profile(
    name="苍溪红心猕猴桃加工厂",
    region="苍溪县",
    industry="猕猴桃加工",
    employees=15,
    annual_revenue_wan=800,
    ownership="private",
    needs=["想贷款扩产", "要接电"],
)


def item(kb, item_id):
    return next(i for i in kb.items if i.item_id == item_id)


def test_the_electricity_measure_is_tagged_from_its_text(kb):
    electricity = item(kb, ELECTRICITY)
    assert {"小微企业", "充换电设施项目"} <= set(electricity.values("beneficiaries"))
    assert "水电气" in electricity.values("benefits")
    assert [c.evidence for c in electricity.conditions if c.value == "规模上限"] == ["160千瓦及以下"]
    assert electricity.lead == ["市发展改革委", "国网广元供电公司"] and electricity.cooperating == ["市级有关部门（单位）"]
    assert electricity.valid_until.value == "2025-12-31" and electricity.level == "市级"
    text = load_file(CORPUS / PLAN).text
    assert text[electricity.start : electricity.end] == electricity.text
    for tag in electricity.beneficiaries + electricity.benefits + electricity.conditions + electricity.departments:
        assert text[tag.start : tag.end] == tag.evidence  # every value keeps the span it came from


def test_law_articles_become_items_when_they_address_enterprises(kb):
    law = "促进个体工商户发展条例.md"
    items = [i for i in kb.items if i.doc_id == law]
    assert items and all("个体工商户" in i.values("beneficiaries") or i.benefits for i in items)
    assert any(i.valid_from and i.valid_from.value == "2022-11-01" for i in items)
    assert not any(i.section.endswith("第一章 总则") for i in kb.items)  # chapter headings are not items


def test_items_are_stored_with_the_index_and_reused(tmp_path, small_corpus):
    settings = make_settings(tmp_path / "index", small_corpus)
    ingest(settings, progress=False)
    first = {i.item_id: i for i in KnowledgeBase(settings).items}
    assert ELECTRICITY in first
    changed = small_corpus / "公平竞争审查条例.md"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n第九十九条 对小微企业，依法给予支持。\n", encoding="utf-8")
    ingest(settings, progress=False)
    second = {i.item_id: i for i in KnowledgeBase(settings).items}
    assert second[ELECTRICITY] == first[ELECTRICITY]
    assert any(i.endswith("第九十九条") for i in second) and not any(i.endswith("第九十九条") for i in first)


def test_size_class_follows_the_national_rules():
    assert Profile(employees=15, annual_revenue_wan=800).size()[0] == "微型"
    assert Profile(employees=150, annual_revenue_wan=5000, industry="铝型材制造").size()[0] == "小型"
    assert Profile(employees=500, annual_revenue_wan=30000).size()[0] == "中型"
    assert Profile(employees=3000, annual_revenue_wan=500000).size()[0] == "大型"
    assert Profile(employees=8, annual_revenue_wan=60, industry="便利店零售").size()[0] == "微型"
    assert Profile(industry="建筑施工", total_assets_wan=100).size()[0] == "微型"  # construction: revenue or assets
    assert Profile(industry="建筑施工", employees=10).size()[0] is None  # headcount does not count there
    assert Profile().size() == (None, "")  # unknown, not small
    # One figure above a limit decides nothing while the other is unknown; one below the micro limit does.
    assert Profile(employees=500).size()[0] is None and Profile(employees=15).size()[0] == "微型"
    assert Profile(employees=500, declared_size="中型").size() == ("中型", "自述为中型企业")


def match(kb, profile, limit=None, offset=0):
    return Matcher(kb).match(profile, limit, offset)


def test_a_micro_kiwi_processor_gets_credit_and_electricity_measures(kb):
    result = match(kb, KIWI, limit=10)
    assert result.total > len(result.items) == 10  # the total counts every applicable item
    top = {m.item_id: m for m in result.items}
    assert ELECTRICITY in top
    electricity = top[ELECTRICITY]
    assert electricity.needs == ["要接电"] and electricity.reasons[0] == "针对需求“要接电”"
    assert any("微型企业" in r and "小微企业" in r for r in electricity.reasons)
    assert any("160千瓦及以下" in u for u in electricity.uncertain)
    assert electricity.departments["lead"] == ["市发展改革委", "国网广元供电公司"]
    assert any("融资/担保" in m.benefit for m in result.items)


def test_each_need_gets_its_best_items_first(kb):
    """The first places go to the needs in turn, and an item that answers no need comes after every one that does."""
    result = match(kb, KIWI)
    assert [m.needs[0] for m in result.items[:2]] == ["想贷款扩产", "要接电"]
    assert all(m.needs for m in result.items[:4])
    answering = [n for n, m in enumerate(result.items) if m.needs]
    others = [n for n, m in enumerate(result.items) if not m.needs]
    assert answering and others and max(answering) < min(others)
    # A need about a payment owed finds the clauses that name it, not generic service measures.
    owed = match(kb, Profile(industry="建筑施工", employees=30, ownership="private", needs=["政府工程款拖了一年不给"]), limit=10)
    assert any(m.item_id.startswith("保障中小企业款项支付条例.md") for m in owed.items[:3])
    # An article of that regulation is for this small supplier though it names only the 机关 and 大型企业 that pay.
    audit = next(i for i in kb.items if i.doc_id == "保障中小企业款项支付条例.md" and i.title == "第十二条")
    assert {t.value for t in audit.beneficiaries} <= {"大型企业", "所有经营主体"}
    builder = owed.profile.model_copy(update={"annual_revenue_wan": 2000, "total_assets_wan": 1000})  # a small firm by the rules
    found = {m.item_id: m for m in match(kb, builder).items}
    assert audit.item_id in found and any("文件名称写明“中小企业”" in r for r in found[audit.item_id].reasons)


def test_matching_searches_each_need_with_its_own_bm25_weight(corpus_settings):
    """`match_bm25_weight`, not search's `bm25_weight`, weighs BM25 when a need is searched."""
    profile = Profile(industry="建筑施工", employees=30, ownership="private", needs=["政府工程款拖了一年不给"])

    def first_items(**update) -> list[str]:
        kb = KnowledgeBase(corpus_settings.model_copy(update=update))
        try:
            return [m.item_id for m in Matcher(kb).match(profile, limit=5).items]
        finally:
            kb.close()

    assert first_items(match_bm25_weight=0.0) != first_items(match_bm25_weight=50.0)
    assert first_items(bm25_weight=0.0) == first_items(bm25_weight=50.0)


def test_the_whole_profile_ranking_reads_the_items_attached_questions(kb):
    """下岗 is in no document, only in everyday questions attached to articles about 失业人员: the item index that
    ranks items by the whole profile finds those articles by it when it reads their questions, none without."""
    assert kb.settings.match_item_questions
    assert ItemIndex(kb.items, kb.lexical.tokenizer).relevance("下岗") == {}
    found = Matcher(kb).index.relevance("下岗")
    questions = item_questions(kb)
    assert len(found) >= 3 and max(found.values()) == 1.0
    assert all(any("下岗" in q for q in questions[item_id]) for item_id in found)


def test_pages_are_slices_of_one_ranking(kb):
    whole = match(kb, KIWI)
    pages = [match(kb, KIWI, limit=7, offset=offset) for offset in range(0, whole.total, 7)]
    assert all(page.total == whole.total for page in pages)
    assert [m.item_id for page in pages for m in page.items] == [m.item_id for m in whole.items]
    assert pages[1].offset == 7 and pages[1].items[0].rank == 8


def test_figures_are_turned_into_the_national_tax_thresholds(kb):
    small = Profile(employees=40, total_assets_wan=800, taxable_income_wan=120, annual_revenue_wan=450)
    assert small.small_low_profit().holds is True and small.small_scale_taxpayer().holds is True
    assert Profile(employees=40, taxable_income_wan=420).small_low_profit().holds is False
    assert Profile(employees=40).small_low_profit().holds is None  # the other figures are unknown
    assert Profile(is_individual_business=True).small_low_profit().holds is False
    assert Profile(annual_revenue_wan=900).small_scale_taxpayer().holds is False
    rate = "中华人民共和国企业所得税法.md#中华人民共和国企业所得税法 > 第四章 税收优惠 > 第二十八条"
    assert "小型微利企业" in item(kb, rate).values("beneficiaries")
    found = {m.item_id: m for m in match(kb, small.model_copy(update={"needs": ["交的税能不能少点"]})).items}
    assert rate in found and any("均未超过小型微利企业标准" in r for r in found[rate].reasons)
    big = Profile(employees=400, total_assets_wan=9000, taxable_income_wan=900, is_high_tech=False, needs=["交的税能不能少点"])
    assert rate not in {m.item_id for m in match(kb, big).items}


def test_groups_rule_items_in_and_out(kb):
    shop = Profile(industry="便利店", is_individual_business=True, ownership="individual", region="利州区", needs=["贷款"])
    shop_items = {m.item_id for m in match(kb, shop).items}
    assert any(i.startswith("促进个体工商户发展条例.md") for i in shop_items)
    giant = Profile(
        industry="铝基材料", employees=3000, annual_revenue_wan=600000, ownership="state", park="广元经济技术开发区", needs=["用地"]
    )
    for m in match(kb, giant).items:
        specific = set(item(kb, m.item_id).values("beneficiaries")) - {"所有经营主体"}
        assert specific != {"小微企业"}, m.item_id  # a measure only for small firms is left out


def test_unknown_fields_are_uncertain_not_false(kb):
    unknown_size = Profile(industry="猕猴桃加工", region="苍溪县", needs=["要接电"])
    electricity = next(m for m in match(kb, unknown_size).items if m.item_id == ELECTRICITY)
    assert any("请核实企业规模是否属于小微企业" in u for u in electricity.uncertain)
    from assistant.documents.items import Tag

    def fit(tag, profile):
        return Judge(profile).fit(tag)

    park = Tag(value="园区企业", evidence="园区", start=0, end=2)
    assert fit(park, Profile(region="苍溪县")).fits is None and fit(park, Profile(park="广元国际铁路港")).fits is True
    tech = Tag(value="科技型企业", evidence="研发", start=0, end=2)
    assert fit(tech, Profile(is_high_tech=False)).fits is None and fit(tech, Profile(is_high_tech=False, has_rnd=False)).fits is False


def test_a_park_measure_for_a_firm_that_names_no_park_comes_after_the_others(kb, corpus_settings):
    """Unknown is not a reason to exclude, but most small firms are in no park: a measure for a park's enterprises
    is listed, with the park to check, after every item that answers a need and is not one
    (`match_park_unknown_last`). A measure that names a park in passing is not one."""
    park_eia = f"{PLAN}#三、开展示范营商园区打造行动 > （三）强化园区要素保障 > 4.优化园区环评服务"
    feed_mill = Profile(region="利州区", industry="饲料加工", employees=20, ownership="private", needs=["新厂房要做环评，手续太慢"])
    items = match(kb, feed_mill).items
    ranks = {m.item_id: m.rank for m in items}
    found = next(m for m in items if m.item_id == park_eia)
    assert found.needs == ["新厂房要做环评，手续太慢"] and any("园区企业" in u for u in found.uncertain)
    elsewhere = [m for m in items if m.needs and not is_park_measure(item(kb, m.item_id))]
    assert len(elsewhere) >= 5 and all(m.rank < ranks[park_eia] for m in elsewhere)
    # 7.优化环评服务 speaks of 产业园区 in passing: it is for every business, keeps its place and asks nothing
    # about a park.
    city_eia = f"{PLAN}#二、开展改革创新提质行动 > （三）创新优化要素保障 > 7.优化环评服务"
    assert "产业园区" in item(kb, city_eia).text and not is_park_measure(item(kb, city_eia))
    assert ranks[city_eia] < ranks[park_eia]
    assert not any("园区" in u for u in next(m for m in items if m.item_id == city_eia).uncertain)
    in_park = match(kb, feed_mill.model_copy(update={"park": "广元经济技术开发区"}), limit=5).items
    assert park_eia in [m.item_id for m in in_park]
    # Without the rule the park measure is among the first places for the firm that names no park.
    other = KnowledgeBase(corpus_settings.model_copy(update={"match_park_unknown_last": False}))
    try:
        assert park_eia in [m.item_id for m in Matcher(other).match(feed_mill, limit=3).items]
    finally:
        other.close()


def test_the_units_of_a_duty_line_are_not_who_benefits(kb):
    """The 责任单位 line of 提升政务服务便利度 names 广元经济技术开发区管委会 among the units that act: the measure
    is not one for 园区企业, nor for that park's place, and the unit is still listed among its departments."""
    measure = item(kb, f"{PLAN}#一、开展降本增效攻坚行动 > （一）提升政务服务便利度")
    assert "园区企业" not in measure.values("beneficiaries") and measure.places == []
    assert "广元经济技术开发区管委会" in measure.cooperating


def test_hard_mismatches_exclude_and_say_nothing_unknown(kb):
    company = Profile(industry="餐饮", employees=12, ownership="private", is_individual_business=False, region="利州区", needs=["想贷款"])
    matched = {m.item_id for m in match(kb, company).items}
    only_individual = [i for i in kb.items if i.level == "国家" and {t.value for t in i.beneficiaries} == {"个体工商户"}]
    assert only_individual and not matched & {i.item_id for i in only_individual}
    elsewhere = company.model_copy(update={"region": "成都市武侯区"})
    assert not any(m.item_id.startswith(PLAN) for m in match(kb, elsewhere).items)  # the city's plan is for Guangyuan
    # Not saying is not excluding: the same company with no size and no ownership keeps the small-firm items, with a ？.
    unsure = Profile(industry="餐饮", region="利州区", needs=["想贷款"])
    small_only = {i.item_id for i in kb.items if {t.value for t in i.beneficiaries} - {"所有经营主体"} == {"小微企业"}}
    kept = [m for m in match(kb, unsure).items if m.item_id in small_only]
    assert kept and all(any("请核实企业规模" in u for u in m.uncertain) for m in kept)


def test_a_relief_for_a_status_the_enterprise_lacks_is_left_out(kb):
    # 实施条例第九十三条 defines the 高新技术企业 of the 15 % rate; it also says 研究开发, which a firm with R&D fits.
    definition = "中华人民共和国企业所得税法实施条例.md#中华人民共和国企业所得税法实施条例 > 第四章 税收优惠 > 第九十三条"
    assert {"高新技术企业", "科技型企业"} <= set(item(kb, definition).values("beneficiaries"))
    lab = Profile(industry="传感器研发", employees=30, has_rnd=True, is_high_tech=False, needs=["研发花的钱能不能少交税"])
    assert Judge(lab).assess(item(kb, definition)) is None
    certified = Judge(lab.model_copy(update={"is_high_tech": True})).assess(item(kb, definition))
    assert certified is not None and any("是高新技术企业" in f.reason for f in certified.holds)
    unsaid = Judge(lab.model_copy(update={"is_high_tech": None})).assess(item(kb, definition))
    assert unsaid is not None and any("高新技术企业" in f.reason for f in unsaid.unknown)
    # 第二十八条 grants two statuses: holding either keeps it.
    rate = "中华人民共和国企业所得税法.md#中华人民共和国企业所得税法 > 第四章 税收优惠 > 第二十八条"
    small = lab.model_copy(update={"total_assets_wan": 800, "taxable_income_wan": 120})
    assert Judge(small).assess(item(kb, rate)) is not None
    medium = lab.model_copy(update={"employees": 400, "total_assets_wan": 9000, "taxable_income_wan": 900})
    assert Judge(medium).assess(item(kb, rate)) is None  # holding neither (an older rule says so as well)
    # 第九十七条's relief goes to the venture fund; the 中小高新技术企业 it names is the company it invests in.
    venture = "中华人民共和国企业所得税法实施条例.md#中华人民共和国企业所得税法实施条例 > 第四章 税收优惠 > 第九十七条"
    assert "高新技术企业" in item(kb, venture).values("beneficiaries")
    fund = Profile(industry="创业投资", employees=12, is_high_tech=False, needs=["投了一家中小高新企业，能不能抵税"])
    assert Judge(fund).assess(item(kb, venture)) is not None
    # A plan measure that names 高新技术企业 among other things still serves a firm that is not one.
    park_science = next(i for i in kb.items if i.level == "市级" and "高新技术企业" in i.values("beneficiaries"))
    assert Judge(lab.model_copy(update={"park": "广元经济技术开发区"})).assess(park_science) is not None


def test_a_plan_measure_naming_no_group_still_serves_a_need(kb):
    untagged = [i for i in kb.items if i.level == "市级" and not i.beneficiaries and "水电气" in i.values("benefits")]
    assert untagged
    matched = {m.item_id for m in match(kb, Profile(region="利州区", needs=["要接水接电"])).items}
    assert untagged[0].item_id in matched


def test_a_question_is_read_as_a_profile():
    question = "我们是一家做猕猴桃加工的小微企业，在苍溪县，今年想扩大生产，有哪些政策可以用？"
    assert is_matching_question(question) and not is_matching_question("电子保函费率是多少？")
    profile = infer_profile(question)
    assert profile.industry == "猕猴桃加工" and profile.declared_size == "小微" and profile.region == "苍溪县"
    assert profile.needs == ["扩大生产"] and profile.employees is None and profile.exports is None
    assert "猕猴桃加工" in describe(profile) and "小微" in describe(profile)


def test_match_and_items_commands(corpus_settings, tmp_path):
    profile = tmp_path / "kiwi.json"
    profile.write_text(KIWI.model_dump_json(exclude_none=True), encoding="utf-8")
    result = run_cli(["match", "--profile", str(profile), "--json", "-n", "5"], corpus_settings)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["total"] > 5 and len(out["items"]) == 5
    assert set(out["items"][0]) >= {
        "item_id",
        "doc_title",
        "doc_number",
        "section",
        "title",
        "text",
        "reasons",
        "uncertain",
        "benefit",
        "departments",
        "score",
    }
    text = run_cli(["match", "--profile", str(profile), "-n", "3"], corpus_settings).stdout
    assert text.startswith(f"共有 {out['total']} 项政策适用，以下是第 1–3 项")
    second = json.loads(run_cli(["match", "--profile", str(profile), "--json", "-n", "5", "--offset", "5"], corpus_settings).stdout)
    assert second["offset"] == 5 and [m["rank"] for m in second["items"]] == [6, 7, 8, 9, 10]
    batch = tmp_path / "profiles.jsonl"
    batch.write_text(
        json.dumps({"id": "kiwi", "profile": KIWI.model_dump(exclude_none=True)}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": "bad", "profile": {"employees": "很多"}}, ensure_ascii=False)
        + '\n{"id": "nope"}\n',
        encoding="utf-8",
    )
    batched = run_cli(["match", "--input", str(batch)], corpus_settings)
    lines = [json.loads(line) for line in batched.stdout.splitlines()]
    assert lines[0]["id"] == "kiwi" and lines[0]["total"] == out["total"]
    assert lines[1]["id"] == "bad" and lines[1]["error"].startswith("not a valid profile (employees: ")
    assert lines[2] == {"line": 3, "id": "nope", "error": f'{batch}:3: expected an object with "profile"'}
    assert batched.returncode == 1 and "1 line(s)" in batched.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"ownership": "martian"}', encoding="utf-8")
    refused = run_cli(["match", "--profile", str(bad)], corpus_settings)
    assert refused.returncode == 1 and "ownership" in refused.stderr and "Traceback" not in refused.stderr
    listed = run_cli(["items", "--beneficiary", "个体工商户", "--json"], corpus_settings)
    assert listed.returncode == 0 and all("个体工商户" in {t["value"] for t in i["beneficiaries"]} for i in json.loads(listed.stdout))


def test_the_language_model_refines_tags_only_with_verbatim_evidence(kb):
    server = FakeChatServer().start()
    try:
        settings = kb.settings.model_copy(update={"llm_base_url": server.base_url, "llm_max_retries": 0, "refine_items": True})
        from assistant.answering.llm import chat_model

        electricity = item(kb, ELECTRICITY)
        server.script(
            Reply(
                json.dumps(
                    {
                        "beneficiaries": [
                            {"value": "民营企业", "evidence": "压减企业接电成本"},
                            {"value": "外贸企业", "evidence": "出口退税"},
                        ],
                        "benefits": [
                            {"value": "资金补贴/奖励", "evidence": "由供电企业出资建设红线外电力接入工程"},
                            {"value": "胡编", "evidence": "用电"},
                        ],
                    },
                    ensure_ascii=False,
                )
            )
        )
        refined = refine_item(chat_model(settings), electricity)
        added = {(t.value, t.evidence) for t in refined.beneficiaries + refined.benefits} - {
            (t.value, t.evidence) for t in electricity.beneficiaries + electricity.benefits
        }
        assert added == {("民营企业", "压减企业接电成本"), ("资金补贴/奖励", "由供电企业出资建设红线外电力接入工程")}
        text = load_file(CORPUS / PLAN).text
        assert all(text[t.start : t.end] == t.evidence for t in refined.beneficiaries + refined.benefits)
        assert (
            refined.refined and "《广元市2025年对标改革打造最优营商环境五大专项行动方案》" in server.requests[0]["messages"][1]["content"]
        )
        server.script(Reply("不是 JSON"))
        assert refine_item(chat_model(settings), electricity) == electricity  # a failed refinement changes nothing
    finally:
        server.stop()
