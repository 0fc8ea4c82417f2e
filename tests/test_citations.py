"""Checking a generated answer's markers against real passages of the Guangyuan plan."""

from assistant.answering.citations import normalise_markers, verify
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
    assert checked.unsupported == ["300"]


def test_document_numbers_in_brackets_are_not_markers(kb):
    checked = verify("依照国发[2019]6号，保函费率不高于2.8‰[1]。", [kb.chunks[BOND]])
    assert "国发[2019]6号" in checked.answer and checked.invalid_markers == []
