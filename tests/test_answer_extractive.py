"""Extractive answers on the real corpus and index (their accuracy on the gold set: tests/test_eval.py)."""

import pytest

from assistant.answering.answer import Assistant, AssistantError, Message
from assistant.answering.extractive import CONDITIONS_LEAD, asked_quantities, question_parts
from assistant.index.knowledge_base import KnowledgeBase
from assistant.vocabulary import REFUSAL, duty_units, without_city_name
from conftest import PLAN, assert_verbatim


@pytest.fixture(scope="module")
def assistant(kb) -> Assistant:
    return Assistant(kb.settings, kb)


@pytest.fixture(scope="module")
def by_sentence(corpus_settings):
    """The answerer with no passage quoted whole: what the sentence rules do on their own."""
    settings = corpus_settings.model_copy(update={"whole_passage_chars": 0})
    assistant = Assistant(settings, KnowledgeBase(settings))
    yield assistant
    assistant.kb.close()


def ask_with(corpus_settings, question: str, **update):
    """One question through an answerer whose settings differ from the defaults by `update`."""
    settings = corpus_settings.model_copy(update=update)
    other = Assistant(settings, KnowledgeBase(settings))
    try:
        return other.ask(question)
    finally:
        other.kb.close()


def test_small_business_electricity_connection(assistant):
    answer = assistant.ask("我们是小微企业，用电接入要自己出钱吗？")
    assert answer.mode == "extractive" and not answer.refused and answer.notice is None
    assert "160千瓦及以下" in answer.answer and "由供电企业出资建设红线外电力接入工程" in answer.answer
    first = answer.citations[0]
    assert first.doc_id == PLAN and first.doc_number == "广营商办〔2025〕1号" and "降低用电成本" in first.section
    assert all(f"[{c.n}]" in answer.answer for c in answer.citations)
    assert_verbatim(answer)
    assert {c.chunk_id for c in answer.citations} <= {p.chunk_id for p in answer.retrieved}


def test_numbers_are_quoted_exactly(assistant):
    answer = assistant.ask("电子保函的费率现在最高多少，以后会降到多少？")
    assert "2.8‰" in answer.answer and "2‰" in answer.answer
    assert_verbatim(answer)


def test_who_is_responsible_names_lead_and_cooperating_units(assistant):
    answer = assistant.ask("降低用电成本这件事由哪个部门牵头？")
    assert "牵头单位：市发展改革委、国网广元供电公司；配合单位：市级有关部门（单位）" in answer.answer
    duty = next(c for c in answer.citations if c.quote.startswith("责任单位："))
    assert f"[{duty.n}]" in answer.answer.splitlines()[-1]
    assert_verbatim(answer)
    # This measure's duty line is wrapped in the source after its lead units; the cooperating ones are still read.
    wrapped = assistant.ask("在园区设行政执法监督企业联系点，是哪几个部门负责的？")
    assert "牵头单位：市司法局、市法院、市公安局、市市场监管局；配合单位：市级有关部门（单位）" in wrapped.answer
    assert_verbatim(wrapped)


def test_duty_units_split_lead_and_cooperating():
    assert duty_units("责任单位：市税务局；市政务服务和数据局、市财政局") == ("市税务局", "市政务服务和数据局、市财政局")
    assert duty_units("责任单位：市法院、市司法局") == ("市法院、市司法局", "")
    # The plan's first duty line explains the convention after its units; the explanation is no unit.
    first = (
        "责任单位：市政务服务和数据局；市级有关部门（单位）、各县（区）人民政府、广元经济技术开发区管委会。"
        "分号前面为牵头单位，后面为配合单位，下同；以下各项均涉及各县（区）人民政府、广元经济技术开发区管委会，不再单独列出"
    )
    assert duty_units(first) == ("市政务服务和数据局", "市级有关部门（单位）、各县（区）人民政府、广元经济技术开发区管委会")


def test_list_question_gathers_items(by_sentence):
    answer = by_sentence.ask("进项税额有哪些情形不能抵扣？")
    assert not answer.refused
    assert len(answer.citations) >= 3
    assert "集体福利或者个人消费" in answer.answer
    assert_verbatim(answer)


def test_unanswerable_question_is_refused_with_closest_clauses(assistant):
    answer = assistant.ask("企业在新三板挂牌成功后，市里一次性奖励多少钱？")
    assert answer.refused and answer.answer.startswith(REFUSAL)
    assert answer.citations and "新三板" in answer.answer
    assert_verbatim(answer)


def test_a_question_asking_two_quantities_is_answered_by_either(assistant):
    """The question asks for an amount ("多少钱") and a period ("多少天"): the clause that states the period answers
    it, where requiring the first kind asked refused it."""
    question = "股东交了多少钱要不要对外公示，多少天内公示？"
    assert asked_quantities(question) == ["money", "time"]
    answer = assistant.ask(question)
    assert not answer.refused and "20个工作日内" in answer.answer
    assert_verbatim(answer)


@pytest.mark.parametrize("question", ["帮我写一首关于春天的诗", "今天星期几？"])
def test_off_topic_question_is_refused(assistant, question):
    assert assistant.ask(question).refused


def test_follow_up_borrows_terms_of_previous_question(assistant):
    history = [Message(role="user", content="电子保函的费率是多少？"), Message(role="assistant", content="……")]
    answer = assistant.ask("以后还会降吗？", history)
    assert answer.question == "以后还会降吗？"
    assert answer.standalone_question.startswith("以后还会降吗？") and "保函" in answer.standalone_question
    assert "逐步降低至2‰" in answer.answer
    # Without the history the same words are a different, vaguer question.
    assert assistant.ask("以后还会降吗？").standalone_question == "以后还会降吗？"


def test_follow_up_leaves_behind_the_term_it_replaces(assistant):
    history = [Message(role="user", content="用气报装最快几个工作日能办完？")]
    standalone = assistant.ask("那用水呢？", history).standalone_question
    assert "用水" in standalone and "报装" in standalone and "用气" not in standalone


def test_bad_requests_get_clear_errors(assistant):
    with pytest.raises(AssistantError, match="empty"):
        assistant.ask("   ")
    with pytest.raises(AssistantError, match="POLICY_QA_LLM_API_KEY"):
        assistant.ask("电子保函费率是多少？", mode="llm")


def test_a_quoted_rule_comes_with_what_qualifies_it(by_sentence):
    """The duty to pay within sixty days brings the sentence that says what happens when it is not met."""
    answer = by_sentence.ask("我们签了土地出让合同，出让金要多久交齐？交不齐会怎样？")
    assert "六十日内，支付全部土地使用权出让金" in answer.answer and "出让方有权解除合同" in answer.answer
    assert_verbatim(answer)


def test_a_list_item_comes_with_its_lead_in(by_sentence):
    answer = by_sentence.ask("中介帮人找工作，可以收押金或者扣身份证吗？")
    assert "向劳动者收取押金" in answer.answer and "职业中介机构不得有下列行为" in answer.answer
    # The items of a list of prohibitions are alternatives: the others are not quoted with the one asked about.
    assert "提供虚假就业信息" not in answer.answer
    assert_verbatim(answer)


def test_a_condition_comes_with_the_other_conditions_of_its_list(by_sentence):
    """失业保险条例 第十四条 lists three conditions that must all hold: a question about the third (registering)
    gets the other two with it, since one alone misstates who may draw the benefit."""
    answer = by_sentence.ask("失业了想领失业金，要先去登记吗？")
    assert "具备下列条件的失业人员，可以领取失业保险金" in answer.answer
    for condition in ("履行缴费义务满1年", "非因本人意愿中断就业", "已办理失业登记，并有求职要求"):
        assert condition in answer.answer
    assert_verbatim(answer)


def test_only_a_list_of_conditions_that_all_hold_is_quoted_whole():
    assert CONDITIONS_LEAD.search("第十四条 具备下列条件的失业人员，可以领取失业保险金：")
    assert CONDITIONS_LEAD.search("符合条件的小型微利企业，是指从事国家非限制和禁止行业，并符合下列条件的企业：")
    assert CONDITIONS_LEAD.search("企业所得税法第五十一条所称主要机构、场所，应当同时符合下列条件：")
    # One item is enough, or the list says who is out: its items are alternatives.
    assert not CONDITIONS_LEAD.search("符合下列条件之一的，可以申请简易注销：")
    assert not CONDITIONS_LEAD.search("不符合下列条件的，登记机关不予登记：")
    assert not CONDITIONS_LEAD.search("第四十一条 职业中介机构不得有下列行为:")


def best_sentence(assistant: Assistant, question: str) -> str:
    """The sentence the extractive answerer ranks first for a question."""
    evidence = assistant.extractor.evidence(question, assistant.retrieve(question))
    return max(evidence, key=lambda e: e.score).span.text


def test_the_passage_search_found_brings_the_sentence_that_answers(assistant, corpus_settings):
    """ "利息怎么算" is most like a tax clause's "按日加收利息"; the passage that search ranks first, and whose attached
    questions are closest, is 保障中小企业款项支付条例's article on late payment, so its rate comes first."""
    question = "对方付款晚了，利息怎么算？"
    assert "逾期利息" in best_sentence(assistant, question)
    answer = assistant.ask(question)
    assert "1年期贷款市场报价利率" in answer.answer and "万分之五" in answer.answer
    assert_verbatim(answer)
    # The sentences alone, without what their passages add, put the tax clause's interest first.
    settings = corpus_settings.model_copy(update={"evidence_search_weight": 0.0, "evidence_question_weight": 0.0})
    alone = Assistant(settings, KnowledgeBase(settings))
    assert "逾期利息" not in best_sentence(alone, question)
    alone.kb.close()


def test_the_city_name_does_not_choose_the_sentence(assistant):
    """Every measure of the plan is about 广元; the sentence that spells it out (《广元市优化营商环境条例》) must not win a
    question for naming it."""
    question = "想当面跟市里提提意见，广元多久开一次跟老板们的见面会？"
    assert "广元" not in best_sentence(assistant, question)
    answer = assistant.ask(question).answer
    assert "每季度组织重点行业商（协）会及民营企业代表召开一次恳谈会" in answer and "《广元市优化营商环境条例》" not in answer


def test_without_city_name():
    assert without_city_name("在广元市接燃气要多久？") == "在接燃气要多久？"
    assert without_city_name("苍溪县广元农商行贷款") == "苍溪县农商行贷款"  # a county's name stays
    assert without_city_name("广元") == "广元"  # nothing would be left


def test_an_answer_quotes_up_to_max_quoted_sentences(assistant, corpus_settings):
    """With each passage's sentences ranked alone (no short passage quoted whole), an answer quotes at most
    `max_quoted_sentences`, and each one more allowed adds the next best to the same ones. The employer's rate,
    which "单位这头要出工资的几个点" asks for, is among the first three (the third, after the employee's rate and the
    farm workers' exemption; the question asks no kind of fact that `ASKED_FACT` knows, so no sentence gets the
    asked-fact bonus)."""
    question = "给员工交失业险，单位这头要出工资的几个点？"
    answer = assistant.ask(question)
    assert "本单位工资总额的2%" in answer.citations[0].quote and "本人工资的1%" in answer.answer
    assert_verbatim(answer)

    def quotes(most: int) -> list[str]:
        return [c.quote for c in ask_with(corpus_settings, question, max_quoted_sentences=most, whole_passage_chars=0).citations]

    two, three, four, five = quotes(2), quotes(3), quotes(4), quotes(5)
    assert [len(two), len(three), len(four), len(five)] == [2, 3, 4, 5]
    assert set(two) < set(three) < set(four) < set(five)
    assert any("本单位工资总额的2%" in quote for quote in three) and any("本人工资的1%" in quote for quote in three)
    assert not any("本单位工资总额的2%" in quote for quote in two)
    assert assistant.settings.max_quoted_sentences == 5  # so `five` is what the default answer quotes


def test_a_sentence_stating_the_asked_kind_of_fact_is_preferred(assistant, corpus_settings):
    """ "最长领多久" asks for a period: with `asked_fact_bonus` the period's other half, "失业保险金自办理失业登记之日起
    计算", is quoted beside 第十七条's periods; without it, a sentence about the other benefits during that time."""
    question = "失业保险金最长领多久？"
    assert assistant.settings.asked_fact_bonus == 0.1
    with_bonus = assistant.ask(question)
    without = ask_with(corpus_settings, question, asked_fact_bonus=0.0)
    for answer in (with_bonus, without):
        assert not answer.refused and "领取失业保险金的期限最长为12个月" in answer.citations[0].quote
        assert_verbatim(answer)
    assert "失业保险金自办理失业登记之日起计算。" in [c.quote for c in with_bonus.citations]
    assert "失业保险金自办理失业登记之日起计算" not in without.answer
    assert any("同时享受其他失业保险待遇" in c.quote for c in without.citations)


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("研发费用能加计扣除多少？技术转让所得怎么免税？", ["研发费用能加计扣除多少", "技术转让所得怎么免税"]),
        ("小微企业能贷款吗?利率多少?", ["小微企业能贷款吗", "利率多少"]),
        # Three parts at most; the fourth is dropped.
        ("申请条件是什么？需要哪些材料？多久办结？要交钱吗？", ["申请条件是什么", "需要哪些材料", "多久办结"]),
        ("失业保险金最长领多久？", []),
        ("是吗？研发费用能加计扣除多少？", []),  # "是吗" is too short to ask anything
        ("有哪些买卖是不用交增值税的？我想看看自己沾不沾边。", []),  # a statement after the question is no part
        ("那用水呢？ 报装 最快 几个 工作日", []),  # nor are the terms a follow-up borrowed
        ("研发费用能加计扣除多少？研发费用能加计扣除多少？", []),  # the same part twice is one
    ],
)
def test_the_parts_of_a_question_are_what_comes_before_each_question_mark(question, parts):
    assert question_parts(question) == parts


def test_each_part_of_a_two_part_question_gets_its_best_sentence(assistant, corpus_settings):
    """ "研发费用能加计扣除多少？技术转让所得怎么免税？" asks two things. Scored against the whole question, the
    sentences on 加计扣除 fill the answer; with `answer_each_part` the best sentence for each part is quoted too,
    so 第九十条's 500万元 line for 技术转让所得 comes with them (and the half of it after its `；`)."""
    question = "研发费用能加计扣除多少？技术转让所得怎么免税？"
    assert assistant.settings.answer_each_part
    both = assistant.ask(question)
    one = ask_with(corpus_settings, question, answer_each_part=False)
    for answer in (both, one):
        assert not answer.refused and "按照研究开发费用的50%加计扣除" in answer.citations[0].quote
        assert_verbatim(answer)
    transfer = [c for c in both.citations if c.section.endswith("第九十条")]
    assert len(transfer) == 2
    assert "居民企业技术转让所得不超过500万元的部分，免征企业所得税；" in transfer[0].quote
    assert transfer[1].quote == "超过500万元的部分，减半征收企业所得税。"
    assert "技术转让所得" not in one.answer


def test_a_short_article_is_quoted_whole(corpus_settings):
    """ "申请设立登记材料齐全，登记机关多久给登记": the sentence most like it is 第十九条's "当场登记"; the period is
    the sentence after it. The best sentence's passage, when short, is quoted whole: one quote per paragraph, in its
    own order. (The question was "材料交齐了，多久能拿到营业执照" until it was found to reword a blind one.)"""
    question = "申请设立登记材料齐全，登记机关多久给登记？"
    answer = ask_with(corpus_settings, question, whole_passage_chars=400)
    assert not answer.refused
    article = [c for c in answer.citations if c.section.endswith("第十九条")]
    assert [c.quote[:12] for c in article] == ["第十九条 登记机关应当对", "申请材料不齐全或者不符合"]
    assert "当场登记。不能当场登记的，应当在3个工作日内予以登记；情形复杂的" in article[0].quote
    assert [c.n for c in article] == [article[0].n, article[0].n + 1] and article[0].end < article[1].start
    assert all(f"{c.n}. {c.quote}[{c.n}]" in answer.answer.splitlines() for c in article)
    assert any(not c.section.endswith("第十九条") for c in answer.citations)  # other passages' sentences stay
    assert_verbatim(answer)
    off, too_short = (
        ask_with(corpus_settings, question, whole_passage_chars=0),
        ask_with(corpus_settings, question, whole_passage_chars=100),
    )
    assert "3个工作日" not in off.answer and "3个工作日" not in too_short.answer  # 第十九条 is longer than 100 characters
    assert [c.quote for c in too_short.citations] == [c.quote for c in off.citations]
    # A passage with more paragraphs than an answer may quote stays sentence by sentence.
    capped = ask_with(corpus_settings, question, whole_passage_chars=400, max_quoted_sentences=1)
    assert "3个工作日" not in capped.answer
