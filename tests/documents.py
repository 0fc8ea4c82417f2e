"""Builders for test documents in every supported format, all from real Chinese policy text."""

from pathlib import Path

FONT_CJK = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")
FONT_LATIN = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

ELECTRICITY = (
    "（十六）降低用电成本。全面落实电力接入工程费用分担机制，对储备土地电力接入工程建设费用纳入土地开发支出，"
    "对160千瓦及以下居民、小微企业及所有充换电设施项目由供电企业出资建设红线外电力接入工程，压减企业接电成本。"
    "深化电力市场化运行机制，提高企业市场化、绿电等交易效率，科学指导企业优化用电方案，帮助企业合理降低用电成本。"
)
TENDER = (
    "（五）降低招投标交易成本。严格实行招标计划提前发布制度和招标文件公平竞争审查制度，完善事前事中事后全链条监管，"
    "推动市场规范健康发展。鼓励政府投资项目根据计量支付进度分期退还履约保证金。持续推进招标投标全流程电子化建设和"
    "远程异地评标常态化运行，确保电子招标率达到90%以上、异地远程评标占比不低于40%。"
)
TENDER_END = "全面推行非现金方式缴纳工程相关保证金，加大电子保函服务机构扩容降费力度，保持保函费率不高于2.8‰，并实行动态调整逐步降低至2‰。"


def make_pdf(path: Path, pages: list[list[str]], encrypt_with: str | None = None) -> Path:
    """A PDF whose pages hold the given paragraphs; a paragraph "- n -" or "" is drawn as a page-number line or left out."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("cjk", fname=str(FONT_CJK))
    pdf.add_font("latin", fname=str(FONT_LATIN))
    pdf.set_fallback_fonts(["cjk"])
    pdf.set_auto_page_break(False)
    for paragraphs in pages:
        pdf.add_page()
        for paragraph in paragraphs:
            if paragraph.startswith("- "):
                pdf.set_font("helvetica", size=10)  # a core font, as page footers usually are
                pdf.multi_cell(0, 8, paragraph, align="C", new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.set_font("latin", size=12)
                pdf.multi_cell(0, 8, paragraph, new_x="LMARGIN", new_y="NEXT")
    if encrypt_with:
        pdf.set_encryption(owner_password="owner", user_password=encrypt_with)
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("广元市惠企政策申报指南", level=1)
    document.add_paragraph("广营商办〔2025〕7号")
    document.add_paragraph("为加快惠企政策兑现，现将申报事项通知如下。")
    table = document.add_table(rows=3, cols=3)
    rows = [
        ("政策名称", "责任单位", "申报时间"),
        ("降低用电成本", "市发展改革委", "2025年4月1日起"),
        ("降低用气成本", "市住房城乡建设局", "2025年5月1日起"),
    ]
    for row, values in zip(table.rows, rows):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_paragraph("本指南自2025年3月28日起施行。")
    document.save(str(path))
    return path


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>广元市人民政府 - 政策文件</title>
<style>.nav { color: red }</style><script>var tracking = "不应出现的脚本文字";</script></head>
<body>
<nav><a href="/">首页</a> <a href="/news">新闻中心</a></nav>
<header>广元市人民政府门户网站</header>
<div id="zoom">
<h1>关于降低企业用气成本的通知</h1>
<p>广府办〔2025〕12号</p>
<p>用气报装最快办理时间压缩至2个工作日。</p>
<p>全面取消燃气计量装置费用，对信用度良好的用户推行工程费用分期支付方式。</p>
<table><tr><td>事项</td><td>时限</td></tr><tr><td>用气报装</td><td>2个工作日</td></tr></table>
</div>
<footer>版权所有 广元市人民政府办公室</footer>
</body></html>
"""
