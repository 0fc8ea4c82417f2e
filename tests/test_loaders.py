"""Loaders on real Chinese policy text in every supported format, and on broken input."""

import pytest

from assistant.documents.loaders import LoadError, LoadOptions, load_file
from assistant.documents.loaders.repair import join_broken_paragraphs
from conftest import CORPUS, OCR_CACHE, PLAN
from documents import ELECTRICITY, HTML_PAGE, TENDER, TENDER_END, make_docx, make_pdf

NOTICE = """广元市人民政府办公室文件

广府办发〔2025〕3号

广元市人民政府办公室关于进一步降低企业用水成本的通知

各县（区）人民政府，市级有关部门：

升级推动市政供水接入“4221”服务标准全市统一。加快公共供水管网改造，突发性停水频次和时间在2024年基础上减少10%。

广元市人民政府办公室

2025年4月8日
"""


def test_markdown_header_gives_metadata_and_broken_sentences_are_rejoined():
    doc = load_file(CORPUS / PLAN)
    assert doc.title == "广元市2025年对标改革打造最优营商环境五大专项行动方案"
    assert doc.doc_number == "广营商办〔2025〕1号"
    assert doc.date == "2025-03-24"
    assert doc.level == "市级/规范性文件" and doc.region == "四川省广元市"
    # The source cut these sentences at page breaks: "获取\n\n便利化", "加大\n\n对涉党政机关案件执行".
    assert "推动惠企政策管理规范化、获取便利化、服务集成化" in doc.text
    assert "加大对涉党政机关案件执行" in doc.text
    # Headings, mastheads and 责任单位 lines keep their own paragraphs.
    assert "\n\n一、开展降本增效攻坚行动\n\n" in doc.text
    assert "\n\n责任单位：市发展改革委；市级有关部门（单位）\n\n" in doc.text
    # A 责任单位 line wrapped after its lead units comes back whole: the cooperating units are not a paragraph.
    assert "市市场监管局；市级有关部门（单位）\n\n（三）强化园区要素保障" in doc.text
    assert doc.text.startswith("广元市推进政府职能转变和优化营商环境工作领导小组办公室文件\n\n广营商办〔2025〕1号\n\n")


def test_repair_keeps_complete_paragraphs_apart():
    text = "（二）加快惠企政策兑现力度。推动惠企政策管理规范化、获取\n\n便利化、服务集成化。\n\n责任单位：市政务服务和数据局"
    assert (
        join_broken_paragraphs(text)
        == "（二）加快惠企政策兑现力度。推动惠企政策管理规范化、获取便利化、服务集成化。\n\n责任单位：市政务服务和数据局"
    )


def test_repair_rejoins_a_wrapped_duty_line_and_nothing_after_it():
    wrapped = "责任单位：市司法局、市法院、市公安局、市市场监管局；\n\n市级有关部门（单位）\n\n（三）强化园区要素保障"
    assert (
        join_broken_paragraphs(wrapped)
        == "责任单位：市司法局、市法院、市公安局、市市场监管局；市级有关部门（单位）\n\n（三）强化园区要素保障"
    )
    # A whole duty line is followed by the next measure's text, and a body paragraph is no list of units.
    whole = "责任单位：市法院；市级有关部门（单位）\n\n深化“三书同达”改革，推行“活查封”。"
    assert join_broken_paragraphs(whole) == whole
    body = "责任单位：市法院；\n\n深化“三书同达”改革，推行“活查封”。"
    assert join_broken_paragraphs(body) == body
    # A body paragraph cut before its 。 is prose all the same: it has commas, a list of units has none.
    cut = "责任单位：市法院；\n\n深化“三书同达”改革，推行“活查封”"
    assert join_broken_paragraphs(cut) == cut


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_text_file_in_any_chinese_encoding_with_inferred_metadata(tmp_path, encoding):
    path = tmp_path / "通知.txt"
    path.write_bytes(NOTICE.encode(encoding))
    doc = load_file(path)
    assert "“4221”服务标准" in doc.text and "减少10%" in doc.text
    assert doc.title == "广元市人民政府办公室文件"
    assert doc.doc_number == "广府办发〔2025〕3号"
    assert doc.date == "2025-04-08"
    assert doc.authority == "广元市人民政府办公室"
    assert not doc.text.startswith("\ufeff")


def test_pdf_round_trip_keeps_pages_and_rejoins_lines(tmp_path):
    path = make_pdf(
        tmp_path / "方案.pdf",
        [["一、开展降本增效攻坚行动", ELECTRICITY, "- 1 -"], [TENDER + TENDER_END[:20]], [TENDER_END[20:], "第 3 页"]],
    )
    doc = load_file(path)
    # Lines wrapped by the page layout, and the sentence cut across pages 2 and 3, come back whole.
    assert ELECTRICITY in doc.text
    assert TENDER + TENDER_END in doc.text
    assert "- 1 -" not in doc.text and "第 3 页" not in doc.text
    assert [number for _, number in doc.pages] == [1, 2, 3]
    assert doc.page_at(doc.text.index("160千瓦")) == 1
    assert doc.page_at(doc.text.index("远程异地评标")) == 2
    assert doc.page_at(doc.text.index("逐步降低至2‰")) == 3
    assert "\n\n（十六）降低用电成本" in doc.text  # the heading line stays apart from the measure


def test_pdf_duty_line_wrapped_after_its_lead_units_comes_back_whole(tmp_path):
    duty = "责任单位：市司法局、市法院、市公安局、市市场监管局；"
    path = make_pdf(
        tmp_path / "园区.pdf",
        [["建立行政执法监督企业联系点，推动严格规范公正文明执法。", duty, "市级有关部门（单位）", "（三）强化园区要素保障"]],
    )
    doc = load_file(path)
    assert f"\n\n{duty}市级有关部门（单位）\n\n（三）强化园区要素保障" in doc.text
    # The next measure's first line, cut by the page's width, stays out of the duty line.
    body = "适时开展园区法律巡回服务，举办以案释法"
    doc = load_file(make_pdf(tmp_path / "园区2.pdf", [[duty, body]]))
    assert f"{duty}\n\n{body}" in doc.text


def test_pdf_page_without_text_layer_is_ocrd_and_a_blank_one_reported(tmp_path):
    path = make_pdf(tmp_path / "部分扫描.pdf", [[ELECTRICITY], []])
    doc = load_file(path, LoadOptions(ocr_cache=OCR_CACHE))
    assert ELECTRICITY in doc.text
    assert doc.warnings == ["page 2: OCR found no text on the scanned page"]
    assert doc.ocr_pages == {}


def test_pdf_without_any_text_even_by_ocr_is_rejected(tmp_path):
    path = make_pdf(tmp_path / "扫描件.pdf", [[], []])
    with pytest.raises(LoadError, match=r"扫描件\.pdf: no text on any page, not even by OCR"):
        load_file(path, LoadOptions(ocr_cache=OCR_CACHE))


def test_encrypted_pdf_gets_a_clear_error(tmp_path):
    path = make_pdf(tmp_path / "加密.pdf", [[ELECTRICITY]], encrypt_with="secret")
    with pytest.raises(LoadError, match=r"加密\.pdf: the PDF is encrypted"):
        load_file(path)


def test_corrupt_pdf_gets_a_clear_error(tmp_path):
    path = tmp_path / "损坏.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage \x00\x01 not a pdf")
    with pytest.raises(LoadError, match=r"损坏\.pdf: corrupt or unreadable PDF"):
        load_file(path)


def test_docx_with_table(tmp_path):
    doc = load_file(make_docx(tmp_path / "指南.docx"))
    assert doc.title == "广元市惠企政策申报指南"
    assert doc.doc_number == "广营商办〔2025〕7号"
    assert "降低用电成本 | 市发展改革委 | 2025年4月1日起" in doc.text
    assert "政策名称 | 责任单位 | 申报时间" in doc.text
    assert doc.text.index("现将申报事项通知如下") < doc.text.index("降低用气成本") < doc.text.index("本指南自2025年3月28日起施行")


def test_html_main_text_without_script_style_or_navigation(tmp_path):
    path = tmp_path / "通知.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = load_file(path)
    assert doc.title == "关于降低企业用气成本的通知"
    assert doc.doc_number == "广府办〔2025〕12号"
    assert "用气报装最快办理时间压缩至2个工作日。" in doc.text
    assert "用气报装 | 2个工作日" in doc.text
    for noise in ("不应出现的脚本文字", "color: red", "新闻中心", "版权所有", "门户网站"):
        assert noise not in doc.text


def test_gbk_html_is_decoded(tmp_path):
    path = tmp_path / "gbk.htm"
    path.write_bytes(HTML_PAGE.replace('charset="utf-8"', 'charset="gbk"').encode("gbk"))
    assert "全面取消燃气计量装置费用" in load_file(path).text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("空文件.md", b"", "the file is empty"),
        ("表格.xlsx", b"PK\x03\x04", "unsupported file type '.xlsx'"),
        ("乱码.txt", bytes(range(0x80, 0x100)) * 4, "cannot decode the text"),
        ("二进制.txt", b"\x00\x01\x02binary", "binary data in a text file"),
        ("坏的.docx", b"this is not a zip file", "not a valid Word .docx file"),
        ("只有头.md", "---\ntitle: 空文档\n---\n".encode(), "no text after the header"),
    ],
)
def test_bad_input_gets_a_one_line_reason_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError) as error:
        load_file(path)
    message = str(error.value)
    assert message.startswith(f"{name}: ") and reason in message and "\n" not in message
