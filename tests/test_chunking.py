"""Structure-aware chunking of the real plan and laws, and sentence-safe splitting of long measures."""

from pathlib import Path

from assistant.documents.chunking import chunk_document
from assistant.documents.loaders import LoadedDocument, load_file
from conftest import CORPUS, PLAN


def plan_chunks(size=500):
    doc = load_file(CORPUS / PLAN)
    return doc, chunk_document(doc, PLAN, size)


def test_every_chunk_is_a_verbatim_span_with_its_offsets():
    for name in (PLAN, "优化营商环境条例.md", "中华人民共和国企业所得税法实施条例.md"):
        doc = load_file(CORPUS / name)
        for chunk in chunk_document(doc, name, 500):
            assert doc.text[chunk.start : chunk.end].strip() == chunk.text
            assert chunk.doc_id == name and chunk.doc_title == doc.title and chunk.doc_number == doc.doc_number


def test_measure_chunk_has_its_section_path_and_duty_line():
    _, chunks = plan_chunks()
    tender = next(c for c in chunks if "保函费率不高于2.8‰" in c.text)
    assert tender.section == "一、开展降本增效攻坚行动 > （五）降低招投标交易成本"
    assert tender.text.startswith("（五）降低招投标交易成本。")
    assert tender.text.endswith("责任单位：市发展改革委；市级有关部门（单位）")
    electricity = next(c for c in chunks if "160千瓦及以下" in c.text)
    assert electricity.section == "一、开展降本增效攻坚行动 > （十六）降低用电成本"  # written "(十六)" in the source
    assert "责任单位：市发展改革委、国网广元供电公司；市级有关部门（单位）" in electricity.text
    nested = next(c for c in chunks if "简易仲裁案件组庭后45天以内审结" in c.text)
    assert nested.section == "二、开展改革创新提质行动 > （二）创新优化法治环境 > 2.创新优化涉企案件办理和企业权益保护"


def test_one_article_per_chunk_with_chapter_in_the_path():
    name = "优化营商环境条例.md"
    chunks = chunk_document(load_file(CORPUS / name), name, 500)
    article = next(c for c in chunks if c.text.startswith("第十条"))
    assert article.section == "第二章 市场主体保护 > 第十条"
    assert "第十一条" not in article.text
    # Enumerated items inside an article stay in it.
    name = "中华人民共和国企业所得税法.md"
    chunks = chunk_document(load_file(CORPUS / name), name, 500)
    with_items = [c for c in chunks if "\n（一）" in c.text]
    assert with_items and all(c.section.rsplit(" > ", 1)[-1].startswith("第") for c in with_items)


def test_long_measure_is_split_between_sentences_never_inside_numbers():
    sentences = [
        "保持保函费率不高于2.8‰，并实行动态调整逐步降低至2‰。",
        "对单户担保金额500万元及以下的小微企业收取的担保费率原则上不超过1%；",
        "给予每户1.5万元的一次性补助。",
        "升级推动市政供水接入“4221”服务标准全市统一！",
        "是否符合条件？",
    ]
    body = "（一）测试措施。" + "".join(sentences * 6)
    text = f"一、测试行动\n\n{body}\n\n责任单位：市财政局；市级有关部门（单位）"
    doc = LoadedDocument(path=Path("test.md"), text=text, title="测试")
    chunks = chunk_document(doc, "test.md", 200)
    assert len(chunks) >= 3
    assert all(len(c.text) <= 260 for c in chunks)
    for chunk in chunks:
        assert chunk.text[-1] in "。！？；）", chunk.text  # ends at a sentence (or the duty line)
        assert chunk.text.startswith(("（一）", "保持", "对单户", "给予", "升级", "是否"))
    assert "".join(c.text for c in chunks).replace("\n", "") == body + "责任单位：市财政局；市级有关部门（单位）"
    # Every piece can be found by its departments: the duty line is in the index text of all of them.
    assert all("责任单位：市财政局" in c.index_text for c in chunks)
    assert chunks[-1].text.endswith("责任单位：市财政局；市级有关部门（单位）")


def test_chunk_ids_are_stable_across_runs():
    _, first = plan_chunks()
    _, second = plan_chunks()
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)


def test_smaller_size_splits_more():
    _, small = plan_chunks(200)
    _, large = plan_chunks(800)
    assert len(small) > len(large)


def test_a_numbered_clause_without_body_is_kept(tmp_path):
    path = tmp_path / "通知.md"
    path.write_text(
        "# 关于支持猕猴桃加工企业的通知\n\n一、对新建冷链仓储的加工企业，按设备投资额的10%给予补助。\n\n二、工作要求\n", encoding="utf-8"
    )
    chunks = chunk_document(load_file(path), "通知.md", 500)
    assert [c.text for c in chunks] == ["一、对新建冷链仓储的加工企业，按设备投资额的10%给予补助。"]
