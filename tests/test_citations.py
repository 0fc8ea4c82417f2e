"""Checking a generated answer's markers against real passages of the Guangyuan plan."""

import pytest

from assistant.answering.citations import normalise_markers, unsupported_figures, verify
from conftest import PLAN

BOND = f"{PLAN}#0005"  # （五）降低招投标交易成本: the 2.8‰ guarantee rate


def test_marker_forms_are_normalised():
    assert normalise_markers("甲[1,2]乙【3】丙[1-3]丁［2］") == "甲[1][2]乙[3]丙[1][2][3]丁[2]"


def test_each_marker_gets_the_sentence_that_supports_its_claim(kb):
    bond = kb.chunks[BOND]
    checked = verify("电子招标率要达到90%以上[1]。保函费率不高于2.8‰[1]。", [bond])
    first, second = checked.citations
    assert "电子招标率达到90%以上" in first.quote and "保函费率不高于2.8‰" in second.quote
    assert checked.answer == "电子招标率要达到90%以上[1]。保函费率不高于2.8‰[2]。"
    assert checked.invalid_markers == [] and checked.unsupported == []


def test_a_heading_is_never_the_quote(kb):
    checked = verify("用电报装免费[1]", [kb.chunks[BOND]])
    assert not checked.citations[0].quote.startswith("（五）")


def test_figures_from_the_passage_header_are_sourced(kb):
    checked = verify("根据广营商办〔2025〕1号，保函费率不高于2.8‰[1]。另补贴300万元。", [kb.chunks[BOND]])
    assert checked.unsupported == ["300万"]


def test_document_numbers_in_brackets_are_not_markers(kb):
    checked = verify("依照国发[2019]6号，保函费率不高于2.8‰[1]。", [kb.chunks[BOND]])
    assert "国发[2019]6号" in checked.answer and checked.invalid_markers == []


@pytest.mark.parametrize(
    ("claim", "source"),
    [
        ("所有企业都可获得一千万元补贴", "所有企业都可获得1000万元补贴"),
        ("单位按工资总额的百分之二缴纳", "城镇企业事业单位按照本单位工资总额的2%缴纳失业保险费。"),
        ("最长领取24个月", "领取失业保险金的期限最长为二十四个月。"),
        ("费率不高于2.8‰", "保函费率不高于千分之二点八"),
        ("补贴1.5万元", "每户补贴15000元"),
    ],
)
def test_figures_in_any_numerals_are_checked_by_value(claim, source):
    assert unsupported_figures(claim, [source]) == []


def test_a_figure_in_chinese_numerals_that_no_source_states_is_caught():
    assert unsupported_figures("所有企业都可获得一千万元补贴，三年内有效", ["企业可获得100万元补贴，3年内有效"]) == ["一千万"]
    assert unsupported_figures("按统一标准执行第一条", ["按标准执行"]) == []  # the 一 of 统一 is no figure


def test_counting_words_and_years_in_chinese_numerals():
    assert unsupported_figures("企业可以一次申请一项补贴，每年两次", ["企业申请补贴"]) == []
    assert unsupported_figures("二〇二五年底前完成", ["2025年底前完成"]) == []
    assert unsupported_figures("二〇二六年底前完成", ["2025年底前完成"]) == ["二〇二六"]
