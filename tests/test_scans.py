"""Documents as government sites publish them: scanned PDFs read by offline OCR (character accuracy measured
against the text the pages were drawn from), mixed PDFs, page images, OFD, legacy Word .doc/.wps, and notices
whose policy is an attached file. OCR results are cached by page hash (.pytest_cache/ocr.sqlite), so the
pages are read once per machine; the first run OCRs four pages (about 2 s each on 2 cores).
"""

import math
import shutil
import zipfile

import pytest
from pydantic import SecretStr
from pypdf import PdfReader, PdfWriter
from scans import ScannedPage, character_accuracy, lay_out, make_doc, make_image, make_ofd, make_scanned_pdf, plan_paragraphs, plan_scan

from assistant.documents.chunking import chunk_document
from assistant.documents.loaders import LoadError, LoadOptions, load_file
from assistant.documents.loaders.layout import Box, page_layout, running_lines
from assistant.service.library import Upload
from assistant.service.service import Service
from assistant.settings import Settings
from conftest import CORPUS, OCR_CACHE, PLAN, make_settings
from documents import ELECTRICITY, TENDER, make_docx, make_pdf

OPTIONS = LoadOptions(ocr_cache=OCR_CACHE, ocr_dpi=Settings.model_fields["ocr_dpi"].default)


def page_text(doc, number: int) -> str:
    starts = [start for start, _ in doc.pages] + [len(doc.text)]
    index = [n for _, n in doc.pages].index(number)
    return doc.text[starts[index] : starts[index + 1]]


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    pages = plan_scan(CORPUS / PLAN)
    path = make_scanned_pdf(tmp_path_factory.mktemp("scan") / "扫描件.pdf", pages)
    return pages, path, load_file(path, OPTIONS)


def test_scanned_pages_are_read_with_the_target_character_accuracy(scan):
    pages, _, doc = scan
    scores = {number: character_accuracy(page_text(doc, number), pages[number - 1].text) for number in (1, 2, 3)}
    # Page 1 has the red masthead and the seal over its signature, page 2 is clean, page 3 is turned by 2°.
    assert scores[1] >= 0.99 and scores[2] >= 0.99, scores
    assert scores[3] >= 0.97, scores


def test_a_scan_keeps_page_numbers_metadata_and_paragraphs(scan):
    _, _, doc = scan
    assert [number for _, number in doc.pages] == [1, 2, 3]
    assert doc.page_labels == {2: "2", 3: "3"}  # the printed "- 2 -" is metadata, not text
    assert "- 2 -" not in doc.text and "- 3 -" not in doc.text
    assert set(doc.ocr_pages) == {1, 2, 3} and min(doc.ocr_pages.values()) >= 0.9
    assert doc.text.startswith("广元市推进政府职能转变和优化营商环境工作领导小组办公室文件\n\n广营商办〔2025〕1号\n\n")
    assert doc.doc_number == "广营商办〔2025〕1号" and doc.date == "2025-03-24"
    # Lines wrapped by the page are one paragraph again, headings and 责任单位 lines stay apart.
    assert "\n\n一、开展降本增效攻坚行动\n\n" in doc.text
    assert "\n\n责任单位：市政务服务和数据局；市级有关部门（单位）\n\n" in doc.text
    assert "推动惠企政策管理规范化、获取便利化、服务集成化。" in doc.text


def test_chunks_of_a_scan_are_marked_as_ocr_with_page_and_confidence(scan):
    _, _, doc = scan
    chunks = chunk_document(doc, "扫描件.pdf", 500)
    assert chunks and all(c.source == "ocr" and c.ocr_confidence >= 0.9 and c.page for c in chunks)
    measure = next(c for c in chunks if "惠企政策管理规范化" in c.text)
    assert measure.page == 2 and measure.section.endswith("加快惠企政策兑现力度")


def test_a_mixed_pdf_ocrs_only_the_pages_without_text(scan, tmp_path):
    _, scanned, _ = scan
    text_pdf = make_pdf(tmp_path / "text.pdf", [[TENDER, ELECTRICITY]])
    writer = PdfWriter()
    writer.add_page(PdfReader(text_pdf).pages[0])
    writer.add_page(PdfReader(scanned).pages[1])
    with (tmp_path / "混合.pdf").open("wb") as out:
        writer.write(out)
    doc = load_file(tmp_path / "混合.pdf", OPTIONS)
    assert ELECTRICITY in doc.text and "一、开展降本增效攻坚行动" in doc.text
    assert list(doc.ocr_pages) == [2]
    chunks = chunk_document(doc, "混合.pdf", 500)
    tender = next(c for c in chunks if "远程异地评标" in c.text)
    assert (tender.page_end, tender.source, tender.ocr_confidence) == (1, "", None)
    assert {c.source for c in chunks if c.page == 2} == {"ocr"}


def test_an_image_file_is_read_by_ocr(tmp_path):
    lines = lay_out([TENDER])[0]
    path = make_image(tmp_path / "招投标.png", ScannedPage(lines))
    doc = load_file(path, OPTIONS)
    assert character_accuracy(doc.text, "".join(lines)) >= 0.99
    assert doc.ocr_pages.keys() == {1}


def test_a_scan_beyond_the_bounds_is_refused_with_a_reason(scan, tmp_path):
    _, scanned, _ = scan
    with pytest.raises(LoadError, match=r"扫描件\.pdf: 3 scanned pages to OCR, over the limit of 2 .*POLICY_QA_MAX_OCR_PAGES"):
        load_file(scanned, OPTIONS.model_copy(update={"max_ocr_pages": 2}))
    from PIL import Image

    bomb = tmp_path / "炸弹.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # a few KB on disk, 400 million pixels decoded
    with pytest.raises(LoadError, match=r"炸弹\.png: the image is .*over the limit of 60,000,000 pixels"):
        load_file(bomb, OPTIONS)
    broken = tmp_path / "坏图.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(LoadError, match=r"坏图\.jpg: not a readable image"):
        load_file(broken, OPTIONS)


def box(text: str, left: float, top: float, width: float, height: float = 40) -> Box:
    return Box(text, [(left, top), (left + width, top), (left + width, top + height), (left, top + height)])


def test_two_columns_are_read_column_by_column():
    """The layout from boxes alone: a title across both columns, then the left column, then the right one."""
    boxes = [box("两栏排版的政策解读", 500, 150, 800)]
    for row in range(6):
        boxes.append(box(f"左栏第{row + 1}行文字内容。", 100, 300 + row * 60, 700))
        boxes.append(box(f"右栏第{row + 1}行文字内容。", 950, 300 + row * 60, 700))
    lines = [line.text for line in page_layout(boxes, (1800, 2400)).lines]
    assert lines[0] == "两栏排版的政策解读"
    assert lines[1:7] == [f"左栏第{n}行文字内容。" for n in range(1, 7)]
    assert lines[7:] == [f"右栏第{n}行文字内容。" for n in range(1, 7)]


def test_a_tilted_page_is_straightened_before_lines_are_formed():
    """Turned by 2°, the right half of a line sits lower than the next line's left half; straightened, each
    line is whole again."""
    boxes = []
    for row in range(4):
        top = 400 + row * 60
        boxes += [box(f"第{row}行前半，", 100, top, 600), box(f"第{row}行后半。", 704, top, 600)]
    tilted = [b.turned(-math.radians(2), (827, 1170)) for b in boxes]
    assert [line.text for line in page_layout(tilted, (1654, 2339)).lines] == [f"第{r}行前半，第{r}行后半。" for r in range(4)]


def test_page_numbers_and_running_headers_are_taken_out():
    pages = []
    for number in (1, 2, 3):
        boxes = [
            box("广元市人民政府公报", 600, 60, 400),
            box("正文内容，一段完整的政策文字。", 100, 400, 1400),
            box(f"- {number} -", 780, 2250, 90),
        ]
        pages.append(page_layout(boxes, (1654, 2339)))
    assert [page.label for page in pages] == ["1", "2", "3"]
    running = running_lines(pages)
    assert [[line.text for line in page.without(running)] for page in pages] == [["正文内容，一段完整的政策文字。"]] * 3


@pytest.fixture(scope="module")
def ofd(tmp_path_factory):
    paragraphs = plan_paragraphs(CORPUS / PLAN)
    pages = [paragraphs[129:132], paragraphs[132:137]]  # the end of the plan: the scan holds its start
    return pages, make_ofd(tmp_path_factory.mktemp("ofd") / "方案.ofd", pages, title="广元市2025年对标改革打造最优营商环境五大专项行动方案")


def test_ofd_text_layer_with_page_numbers(ofd):
    pages, path = ofd
    doc = load_file(path)
    assert doc.title == "广元市2025年对标改革打造最优营商环境五大专项行动方案"
    for paragraph in pages[0] + pages[1]:
        assert paragraph in doc.text  # exact: each paragraph rejoined from its lines
    assert [number for _, number in doc.pages] == [1, 2]
    assert doc.page_at(doc.text.index(pages[1][0])) == 2
    assert doc.page_labels == {1: "1", 2: "2"} and "- 1 -" not in doc.text
    assert not doc.ocr_pages


def test_a_broken_ofd_gets_a_clear_error(tmp_path):
    not_zip = tmp_path / "坏的.ofd"
    not_zip.write_bytes(b"not a zip package")
    with pytest.raises(LoadError, match=r"坏的\.ofd: not a valid OFD file"):
        load_file(not_zip)
    empty = tmp_path / "空的.ofd"
    with zipfile.ZipFile(empty, "w") as package:
        package.writestr("OFD.xml", '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody/></ofd:OFD>')
    with pytest.raises(LoadError, match=r"空的\.ofd: OFD\.xml names no document"):
        load_file(empty)
    entities = tmp_path / "实体.ofd"
    with zipfile.ZipFile(entities, "w") as package:
        bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        package.writestr(
            "OFD.xml",
            bomb + '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocRoot>&b;</ofd:DocRoot></ofd:DocBody></ofd:OFD>',
        )
    with pytest.raises(LoadError, match=r"实体\.ofd: "):
        load_file(entities)


@pytest.fixture(scope="module")
def legacy_doc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doc")
    return make_doc(folder / "指南.doc", make_docx(folder / "指南.docx"))


def test_a_legacy_word_file_is_converted_and_read(legacy_doc, tmp_path):
    doc = load_file(legacy_doc)
    assert doc.title == "广元市惠企政策申报指南" and doc.doc_number == "广营商办〔2025〕7号"
    assert "降低用电成本 | 市发展改革委 | 2025年4月1日起" in doc.text
    wps = shutil.copy(legacy_doc, tmp_path / "指南.wps")  # WPS writes the same binary format
    assert "本指南自2025年3月28日起施行" in load_file(wps).text


def test_without_libreoffice_a_doc_gets_a_message_saying_what_to_install(legacy_doc, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LoadError, match=r"LibreOffice is not installed.*libreoffice-writer-nogui"):
        load_file(legacy_doc)


def test_a_damaged_doc_is_reported_not_converted(tmp_path):
    path = tmp_path / "损坏.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0 damaged")
    with pytest.raises(LoadError, match=r"损坏\.doc: "):
        load_file(path)


NOTICE_PAGE = """<html><head><meta charset="utf-8"><title>通知</title></head><body>
<nav><a href="../index.html">首页</a></nav>
<div id="zoom"><h1>关于印发《广元市惠企政策申报指南》的通知</h1>
<p>广营商办〔2025〕9号</p><p>现将《广元市惠企政策申报指南》印发给你们，请遵照执行。</p>
<p>广元市人民政府办公室</p><p>2025年4月2日</p>
<p>附件：<a href="files/%E6%8C%87%E5%8D%97.docx">附件1：广元市惠企政策申报指南.docx</a></p>
<p><a href="https://example.gov.cn/other.pdf">外部链接</a></p></div></body></html>"""


def test_an_attachment_is_its_own_document_with_the_notices_metadata(tmp_path):
    from assistant.index.ingest import ingest
    from assistant.index.store import read_manifest

    corpus = tmp_path / "corpus"
    (corpus / "files").mkdir(parents=True)
    (corpus / "通知.html").write_text(NOTICE_PAGE, encoding="utf-8")
    make_docx(corpus / "files" / "指南.docx")
    settings = make_settings(tmp_path / "index", corpus)
    report = ingest(settings)
    assert {f.file: f.status for f in report.files} == {"files/指南.docx": "added", "通知.html": "added"}, report.files
    records = {r.doc_id: r for r in read_manifest(settings).documents}
    attachment = records["files/指南.docx"]
    assert attachment.title == "广元市惠企政策申报指南"
    # The notice's 文号 and date, not the 7号 the attachment's own text carries.
    assert (attachment.doc_number, attachment.date) == ("广营商办〔2025〕9号", "2025-04-02")
    # A changed notice re-reads its attachment, so the metadata follows it.
    (corpus / "通知.html").write_text(NOTICE_PAGE.replace("9号", "10号"), encoding="utf-8")
    report = ingest(settings)
    assert {f.file: f.status for f in report.files} == {"files/指南.docx": "changed", "通知.html": "changed"}
    assert {r.doc_id: r.doc_number for r in read_manifest(settings).documents}["files/指南.docx"] == "广营商办〔2025〕10号"


def test_the_library_adds_a_scan_an_ofd_and_a_doc_and_answers_from_them(scan, ofd, legacy_doc, tmp_path):
    """The 文档库 tab's path: each upload is added with its chunk count; an answer from the scan cites its page
    and says that the text was read by OCR."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "公平竞争审查条例.md", corpus)
    settings = make_settings(tmp_path / "index", corpus, admin_token=SecretStr("admin-secret"))
    service = Service(settings)
    uploads = [Upload("扫描件.pdf", scan[1]), Upload("方案.ofd", ofd[1]), Upload("指南.doc", legacy_doc)]
    results, _ = service.upload(uploads, "admin-secret")
    assert [(r.file, r.status) for r in results] == [("扫描件.pdf", "added"), ("方案.ofd", "added"), ("指南.doc", "added")], results
    assert all(r.chunks > 0 for r in results)
    answer = service.ask("推广的助企惠企平台叫什么名字？", mode="extractive")
    cited = [c for c in answer.citations if c.doc_id == "扫描件.pdf"]
    assert cited and cited[0].page == 2 and cited[0].note == "OCR识别，请核对原件" and cited[0].source == "ocr"
    assert "广圆享" in answer.answer
    # As the faces show it: the 文档库/chat card in the app, and the 来源 list of the CLI and /v1.
    from assistant.faces.ui import card_label
    from assistant.service.plain_text import sources_text

    shown = cited[0].model_dump(mode="json")
    assert "第2页 · OCR识别，请核对原件" in card_label(shown, "")
    assert "第2页  OCR识别，请核对原件" in sources_text([shown])


def test_a_second_read_of_a_scan_comes_from_the_cache(scan, monkeypatch):
    from assistant.documents.loaders import ocr

    def no_ocr(image):
        raise AssertionError("a page was OCR'd again")

    monkeypatch.setattr(ocr, "recognise", no_ocr)
    _, path, doc = scan
    assert load_file(path, OPTIONS).text == doc.text


def test_lines_read_with_low_confidence_are_quoted_in_the_report():
    from assistant.documents.loaders.scan import page_lines

    sure = box("各县（区）人民政府，市级有关部门：", 100, 400, 1200)
    unsure = Box("降低用电成木。", box("", 100, 460, 1200).corners, score=0.62)
    read = page_lines({4: page_layout([sure, unsure], (1654, 2339))}, OPTIONS)
    assert read.warnings == [
        "page 4: 1 line(s) read by OCR with low confidence (below 0.9), check them against the original: 「降低用电成木。」"
    ]
    assert read.confidence == {4: 0.81}


def test_attached_questions_find_a_heading_that_ocr_read_in_full_width():
    from assistant.documents.questions import AttachedQuestion, match_sections

    question = AttachedQuestion(
        question_id="方案.pdf#q0001",
        doc_id="方案.pdf",
        section="一、开展降本增效攻坚行动 > (一)提升政务服务便利度",
        text="办事能一次办完吗？",
        origin="file",
    )
    sections = {"一、开展降本增效攻坚行动 > （一）提升政务服务便利度", "一、开展降本增效攻坚行动"}
    [matched] = match_sections([question], sections)
    assert matched.section == "一、开展降本增效攻坚行动 > （一）提升政务服务便利度"
    [unmatched] = match_sections([question.model_copy(update={"section": "第九章 附则"})], sections)
    assert unmatched.section == "第九章 附则"  # still reported as naming no section
