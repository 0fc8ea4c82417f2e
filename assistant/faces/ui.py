"""The Gradio app: chat for enterprises (streamed answers, source cards that open the cited section),
review for policy interpreters (正确 / 有误, list, CSV), and the document library for maintainers.

Everything that comes from a user or a document is HTML-escaped before it is shown, so markup or script
in a question or a policy file appears as text and never runs.
"""

import html
import re
import tempfile
from pathlib import Path

import gradio as gr

from assistant.errors import PolicyQAError
from assistant.service.service import (
    OWNERSHIP_NAMES,
    SUPPORTED,
    VERDICTS,
    Amendment,
    AskResponse,
    Citation,
    MatchResult,
    Message,
    Profile,
    Review,
    Service,
    Upload,
    to_csv,
)
from assistant.vocabulary import COUNTIES, PARKS

EXAMPLES = [
    "我们是小微企业，用电接入要自己出钱吗？",
    "电子保函的费率最高是多少？以后还会降吗？",
    "降低用电成本由哪个部门牵头？",
    "失业保险金最长可以领多久？",
]

CSS = """
.citation-card { text-align: left !important; white-space: normal !important; justify-content: flex-start !important;
  border-left: 4px solid #b45309 !important; line-height: 1.5; }
.source-view mark { background: #fde68a; padding: 0 2px; }
.source-view .meta { color: #555; font-size: 0.9em; }
.match-card { border-left: 4px solid #15803d; padding: 4px 12px; margin: 10px 0; background: #f9fafb; }
.source-view .section-text { white-space: pre-wrap; line-height: 1.7; border: 1px solid #e5e7eb; padding: 12px; border-radius: 6px; }
"""


# Markdown's own punctuation, "$" (formulas) and ":" so that a bare http://… is not turned into a link.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>:$])")


def escape(text: str) -> str:
    """Text from a user, a document or a model, made inert for the chat's Markdown and HTML: it shows as written,
    and no link, image or markup of its own is ever rendered (only the app's own markup is)."""
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def html_text(text: str) -> str:
    """Text for the app's HTML blocks (source view, match cards), where Markdown is not rendered."""
    return html.escape(text, quote=False)


def html_problem(error: Exception) -> str:
    """An error in the app's HTML blocks, as `problem` is in its Markdown."""
    return f"<p>⚠️ {html_text(str(error))}</p>"


def problem(error: Exception) -> str:
    """How the page shows an error: a PolicyQAError's own message (it says what to do), escaped."""
    return f"⚠️ {escape(str(error))}"


def answer_markdown(answer: AskResponse, llm_configured: bool) -> str:
    parts = [escape(answer.answer).replace("\n", "  \n")]
    if answer.intent == "matching":
        return parts[0]
    if answer.notice:
        parts.append(f"> ⚠️ {escape(answer.notice)}")
    elif answer.mode == "extractive" and not llm_configured:
        parts.append("> ℹ️ 摘录模式：未配置大语言模型，以上内容直接摘自政策原文。")
    if not answer.citations:
        parts.append("> 没有找到相关的政策条款，请换个说法再问。")
    return "\n\n".join(parts)


def verified_markdown(review: Review) -> str:
    when = (escape(review.reviewer) + "，" if review.reviewer else "") + review.created[:10]
    text = escape(review.answer).replace("\n", "  \n")
    sources = "；".join(
        f"[{escape(str(c.get('n')))}]《{escape(str(c.get('doc_title') or ''))}》{escape(str(c.get('section') or ''))}"
        for c in review.citations
    )
    return f"✅ **经政策解读员核对的回答**（{when}）\n\n{text}\n\n来源：{sources or '—'}"


def card_label(citation: dict, date: str) -> str:
    page = page_label(citation.get("page"))
    where = " · ".join(p for p in (citation.get("doc_number"), date, citation.get("section"), page, citation.get("note")) if p)
    notes = "".join(f"\n⚠️ {Amendment(**note).sentence()}" for note in citation.get("amendments") or [])
    return f"[{citation['n']}] 《{citation['doc_title']}》 {where}\n“{citation['quote']}”{notes}"


def page_label(page: int | None) -> str:
    return f"第{page}页" if page else ""


def build_ui(service: Service) -> gr.Blocks:
    with gr.Blocks(title="广圆享 · 惠企政策智能问答") as ui:
        gr.Markdown("# 广圆享 · 惠企政策智能问答\n用日常的话提问，回答中的每一处 [n] 都对应下方的政策原文。")
        form = ProfileForm()
        with gr.Tab("政策问答", id="chat"):
            chat_tab(service, form)
        with gr.Tab("政策匹配", id="match"):
            match_tab(service, form)
        with gr.Tab("解读审核", id="review") as review_tab:
            review_components = review_panel(service)
        with gr.Tab("文档库", id="library") as library_tab:
            library_components = library_panel(service)
        review_tab.select(*review_components)
        library_tab.select(*library_components)
        ui.load(*library_components)
    return ui


def chat_tab(service: Service, form: "ProfileForm") -> None:
    mode_note = (
        "当前使用大语言模型作答，并逐条核对引用。"
        if service.llm_configured
        else ("当前为**摘录模式**：未配置大语言模型（设置 POLICY_QA_LLM_API_KEY 后启用），回答直接摘自政策原文。")
    )
    gr.Markdown(mode_note, elem_id="mode-note")
    history = gr.State([])  # list of Message dicts: the conversation as the assistant reads it
    answers = gr.State([])  # the answer JSON of each turn, for review
    citations = gr.State([])  # the latest answer's citations
    chatbot = gr.Chatbot(label="对话", height=440, elem_id="chatbot", sanitize_html=True)
    with gr.Row():
        question = gr.Textbox(placeholder="例如：我们是小微企业，用电接入要自己出钱吗？", show_label=False, scale=8, elem_id="question")
        send = gr.Button("发送", variant="primary", scale=1, elem_id="send")
        new_topic = gr.Button("新话题", scale=1)
    gr.Examples(EXAMPLES, inputs=question, label="试试这些问题")

    source_view = gr.HTML(render=False, elem_id="source-view")
    gr.Markdown("### 来源（点击查看原文）")

    @gr.render(inputs=citations)
    def source_cards(items: list[dict]) -> None:
        if not items:
            gr.Markdown("暂无来源。")
            return
        dates = {d.doc_id: d.date for d in safe_documents(service)}
        for item in items:
            card = gr.Button(card_label(item, dates.get(item["doc_id"], "")), elem_classes=["citation-card"], size="sm")
            card.click(lambda item=item: source_html(service, item), None, source_view)

    source_view.render()

    with gr.Accordion("审核回答（政策解读员）", open=False, elem_id="review-box"):
        target = gr.Dropdown(label="要审核的回答", choices=[], elem_id="review-target")
        verdict = gr.Radio(list(VERDICTS), label="结论", elem_id="review-verdict")
        correction = gr.Textbox(label="更正（可选）", lines=2)
        comment = gr.Textbox(label="备注（可选）", lines=1)
        reviewer_token = gr.Textbox(label="解读员口令", type="password", elem_id="reviewer-token")
        submit = gr.Button("提交审核", elem_id="review-submit")
        review_status = gr.Markdown(elem_id="review-status")

    def respond(text: str, chat: list, turns: list, given: list):
        text = (text or "").strip()
        if not text:
            yield gr.skip(), chat, turns, given, gr.skip(), gr.skip(), *form.skip()
            return
        chat = chat + [{"role": "user", "content": escape(text)}, {"role": "assistant", "content": "…"}]
        yield "", chat, turns, given, gr.skip(), gr.skip(), *form.skip()
        streamed = ""
        try:
            for event in service.stream(text, [Message(**m) for m in turns]):
                if event.kind == "verified":
                    chat.insert(-1, {"role": "assistant", "content": verified_markdown(event.verified)})
                    yield gr.skip(), chat, turns, given, gr.skip(), gr.skip(), *form.skip()
                elif event.kind == "token":
                    streamed += event.text
                    chat[-1] = {"role": "assistant", "content": escape(streamed)}
                    yield gr.skip(), chat, turns, given, gr.skip(), gr.skip(), *form.skip()
                elif event.kind == "reset":
                    streamed = ""
                elif event.answer is not None:
                    answer = event.answer
        except PolicyQAError as error:
            chat[-1] = {"role": "assistant", "content": problem(error)}
            yield gr.skip(), chat, turns, given, gr.skip(), gr.skip(), *form.skip()
            return
        except Exception as error:  # noqa: BLE001 — a message in the chat, not Gradio's bare "Error"
            chat[-1] = {"role": "assistant", "content": f"⚠️ 出错了（{escape(type(error).__name__)}），请稍后再试。"}
            yield gr.skip(), chat, turns, given, gr.skip(), gr.skip(), *form.skip()
            return
        chat[-1] = {"role": "assistant", "content": answer_markdown(answer, service.llm_configured)}
        if answer.intent == "matching":
            # The profile read from the question is shown in the 政策匹配 form, to be corrected there.
            yield gr.skip(), chat, turns, given, gr.skip(), gr.skip(), *form.values(answer.matching.profile)
            return
        turns = turns + [{"role": "user", "content": text}, {"role": "assistant", "content": answer.answer}]
        given = given + [answer.model_dump(mode="json", exclude={"verified_answer", "matching"})]
        choices = [(f"{n}. {a['question'][:40]}", n - 1) for n, a in enumerate(given, start=1)]
        yield (
            gr.skip(),
            chat,
            turns,
            given,
            [c.model_dump() for c in answer.citations],
            gr.update(choices=choices, value=len(given) - 1),
            *form.skip(),
        )

    outputs = [question, chatbot, history, answers, citations, target, *form.components]
    send.click(respond, [question, chatbot, history, answers], outputs)
    question.submit(respond, [question, chatbot, history, answers], outputs)
    new_topic.click(
        lambda: ([], [], [], [], gr.update(choices=[], value=None), ""), None, [chatbot, history, answers, citations, target, source_view]
    )

    def record(index, verdict_value, correction_text, comment_text, token_value, given):
        if index is None or not given:
            return "请先提问，再审核回答。"
        if verdict_value not in VERDICTS:
            return "请选择“正确”或“有误”。"
        try:
            review = service.feedback(given[index], verdict_value, token_value, correction_text or "", comment_text or "")
        except PolicyQAError as error:
            return problem(error)
        return f"已记录：第 {index + 1} 条回答标记为 **{review.verdict}**（审核编号 {review.id}，{escape(review.reviewer)}）。"

    submit.click(record, [target, verdict, correction, comment, reviewer_token, answers], review_status)


def safe_documents(service: Service) -> list:
    try:
        return service.documents()
    except PolicyQAError:
        return []


def source_html(service: Service, item: dict) -> str:
    try:
        view = service.source(Citation(**item))
    except PolicyQAError as error:
        return html_problem(error)
    doc = view.document
    meta = " · ".join(html_text(p) for p in ((doc.doc_number, doc.date, doc.authority, doc.level, doc.region) if doc else ()) if p)
    body = []
    for chunk in view.chunks:
        text = chunk.text
        if chunk.chunk_id == view.highlight_chunk and view.highlight_at >= 0:
            end = view.highlight_at + len(view.citation.quote)
            body.append(
                html_text(text[: view.highlight_at])
                + "<mark>"
                + html_text(text[view.highlight_at : end])
                + "</mark>"
                + html_text(text[end:])
            )
        else:
            body.append(html_text(text))
    where = " · ".join(html_text(p) for p in (view.citation.section, page_label(view.citation.page), view.citation.note) if p)
    return (
        f'<div class="source-view"><h3>《{html_text(view.citation.doc_title)}》</h3>'
        f'<p class="meta">{meta}</p><p class="meta">{where}</p>'
        f'<div class="section-text">{"<br><br>".join(body)}</div></div>'
    )


def review_panel(service: Service):
    if not service.reviewing_enabled:
        gr.Markdown("⚠️ 解读审核已停用：设置环境变量 POLICY_QA_REVIEWER_TOKEN 并重启后启用。", elem_id="review-disabled")
    with gr.Row():
        token = gr.Textbox(label="解读员口令", type="password", elem_id="review-token")
        verdict = gr.Dropdown(["全部", *VERDICTS], value="全部", label="结论")
        since = gr.Textbox(label="起始日期", placeholder="YYYY-MM-DD")
        until = gr.Textbox(label="截止日期", placeholder="YYYY-MM-DD")
        refresh = gr.Button("刷新", elem_id="review-refresh")
    status = gr.Markdown(elem_id="review-list-status")
    table = gr.Dataframe(
        headers=["编号", "时间", "结论", "解读员", "问题", "回答", "更正", "备注", "模式"],
        wrap=True,
        interactive=False,
        elem_id="review-table",
    )
    export = gr.Button("导出 CSV")
    download = gr.File(label="CSV 文件", interactive=False)

    def chosen(token_value, verdict_value, since_value, until_value) -> list[Review]:
        return service.review_list(
            token_value, None if verdict_value == "全部" else verdict_value, since_value or None, until_value or None
        )

    def rows(token_value, verdict_value, since_value, until_value):
        if not token_value:
            return [], "输入解读员口令后查看审核记录。"
        try:
            reviews = chosen(token_value, verdict_value, since_value, until_value)
        except PolicyQAError as error:
            return [], problem(error)
        table_rows = [
            [r.id, r.created.replace("T", " ")[:19], r.verdict, r.reviewer, r.question, r.answer, r.correction, r.comment, r.mode]
            for r in reviews
        ]
        return table_rows, f"共 {len(reviews)} 条审核记录。"

    def export_csv(token_value, verdict_value, since_value, until_value):
        try:
            reviews = chosen(token_value, verdict_value, since_value, until_value)
        except PolicyQAError as error:
            gr.Warning(str(error))
            return None
        path = Path(tempfile.mkdtemp()) / "reviews.csv"
        path.write_text(to_csv(reviews), encoding="utf-8")
        return str(path)

    filters = [token, verdict, since, until]
    refresh.click(rows, filters, [table, status])
    for control in filters[1:]:
        control.change(rows, filters, [table, status])
    export.click(export_csv, filters, download)
    amendment_panel(service, token)
    return rows, filters, [table, status]


def amendment_panel(service: Service, token: gr.Textbox) -> None:
    """Interpreters record that a clause has changed; every answer that cites it shows the note at once."""
    gr.Markdown("### 条款调整记录\n某条款已被新文件调整时，在此记录；之后引用该条款的回答都会在原文旁显示调整说明（原文不变）。")
    with gr.Row():
        doc = gr.Dropdown(label="文档", choices=[d.doc_id for d in safe_documents(service)], elem_id="amend-doc")
        clause = gr.Textbox(label="条款（如 第九十五条，或条款中的一句原文）", elem_id="amend-clause")
    change = gr.Textbox(label="调整内容（一句话）", lines=2, elem_id="amend-change")
    with gr.Row():
        title = gr.Textbox(label="新文件名称", elem_id="amend-title")
        number = gr.Textbox(label="文号", elem_id="amend-number")
        effective = gr.Textbox(label="施行日期", placeholder="YYYY-MM-DD", elem_id="amend-effective")
        superseded = gr.Textbox(label="已不适用的原数字（逗号分隔，可选）", elem_id="amend-superseded")
    add = gr.Button("记录调整", elem_id="amend-submit")
    amend_status = gr.Markdown(elem_id="amend-status")

    def listing():
        try:
            found = service.amendment_notes()
        except PolicyQAError:
            found = []
        return [[n.note_id, n.doc_id, n.clause, n.change, n.source_number, n.effective, n.recorded_by] for n in found]

    # A function as the value: the notes are read again at every page load.
    notes = gr.Dataframe(
        value=listing,
        headers=["编号", "文档", "条款", "调整内容", "文号", "施行日期", "记录人"],
        wrap=True,
        interactive=False,
        elem_id="amend-table",
    )

    def record(token_value, doc_id, clause_text, change_text, title_text, number_text, effective_text, superseded_text):
        figures = [f.strip() for f in re.split(r"[,，、]", superseded_text or "") if f.strip()]
        try:
            fields = {"doc_id": doc_id or "", "clause": clause_text or "", "change": change_text or "", "source_title": title_text or ""}
            note = Amendment(**fields, source_number=number_text or "", effective=effective_text or "", superseded=figures)
            saved = service.add_amendment(note, token_value)
        except (PolicyQAError, ValueError) as error:
            return problem(error), gr.skip()
        return f"已记录调整说明 {escape(saved.note_id)}（{escape(saved.recorded_by)}）。", listing()

    add.click(record, [token, doc, clause, change, title, number, effective, superseded], [amend_status, notes])


def library_panel(service: Service):
    if not service.admin_enabled:
        gr.Markdown("⚠️ 上传和删除已停用：设置环境变量 POLICY_QA_ADMIN_TOKEN 并重启后启用。", elem_id="admin-disabled")
    docs = gr.Dataframe(
        headers=["文件", "标题", "文号", "日期", "发文机关", "施行日期", "失效日期", "状态", "片段数"],
        wrap=True,
        interactive=False,
        elem_id="doc-table",
    )
    enabled = service.admin_enabled
    with gr.Row():
        token = gr.Textbox(label="管理口令", type="password", interactive=enabled, elem_id="admin-token", scale=4)
        unlock = gr.Button("验证口令", interactive=enabled, elem_id="admin-unlock", scale=1)
    files = gr.File(
        label=f"上传文档（{', '.join(sorted(SUPPORTED))}，单个不超过 {service.settings.max_upload_mb:g} MB）",
        file_count="multiple",
        file_types=sorted(SUPPORTED),
        interactive=enabled,
        elem_id="upload-files",
    )
    upload = gr.Button("上传并入库", variant="primary", interactive=enabled, elem_id="upload-button")
    results = gr.Dataframe(headers=["文件", "结果", "片段数", "说明"], wrap=True, interactive=False, elem_id="upload-results")
    with gr.Row():
        to_delete = gr.Dropdown(label="删除文档", choices=[], interactive=enabled)
        delete = gr.Button("删除", variant="stop", interactive=enabled)
    status = gr.Markdown(elem_id="library-status")

    def listing():
        documents = safe_documents(service)
        validity = service.validities() if documents else {}
        table = [
            [d.file, d.title, d.doc_number, d.date, d.authority, d.effective_date, d.expiry_date, validity.get(d.doc_id, ""), d.chunks]
            for d in documents
        ]
        return table, gr.update(choices=[d.doc_id for d in documents])

    def add(paths, token_value, progress=gr.Progress(track_tqdm=True)):
        if not paths:
            return gr.skip(), gr.skip(), [], "请先选择文件。"
        uploads = [Upload(name=Path(p).name, path=Path(p)) for p in paths]
        try:
            outcome, report = service.upload(uploads, token_value, progress=True)
        except PolicyQAError as error:
            return gr.skip(), gr.skip(), [], problem(error)
        table, choices = listing()
        rows = [[r.file, STATUS_LABELS.get(r.status, r.status), r.chunks, r.message] for r in outcome]
        return table, choices, rows, f"完成：{sum(r.status in ('added', 'changed', 'unchanged') for r in outcome)} 个文件已入库。"

    def remove(doc_id, token_value):
        if not doc_id:
            return gr.skip(), gr.skip(), "请先选择要删除的文档。"
        try:
            service.delete(doc_id, token_value)
        except PolicyQAError as error:
            return gr.skip(), gr.skip(), problem(error)
        table, choices = listing()
        return table, choices, f"已删除：{escape(doc_id)}"

    # In the browser: the token is traded for the cookie that lets the file box upload (Gradio's upload route is
    # closed without it).
    unlock.click(None, [token], [status], js=UNLOCK_JS)
    upload.click(add, [files, token], [docs, to_delete, results, status])
    delete.click(remove, [to_delete, token], [docs, to_delete, status])
    return listing, None, [docs, to_delete]


UNLOCK_JS = """async (token) => {
  const response = await fetch("/api/admin/session", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token})});
  const body = await response.json().catch(() => ({}));
  return response.ok ? "口令正确：现在可以选择文件上传。" : "⚠️ " + (body.error || "口令错误");
}"""

STATUS_LABELS = {
    "added": "已新增",
    "changed": "已更新",
    "unchanged": "无变化",
    "failed": "失败",
    "duplicate": "重复",
    "rejected": "已拒绝",
}


YES_NO = ["未知", "是", "否"]
SIZES = ["未知", "微型", "小型", "小微", "中型", "大型"]
OWNERSHIPS = {name: code for code, name in OWNERSHIP_NAMES.items()}


class ProfileForm:
    """The enterprise profile as form fields; the chat fills it when it reads a profile from a question."""

    def __init__(self) -> None:
        self.region = gr.Dropdown(["", *COUNTIES], value="", label="所在区县", render=False, elem_id="pf-region")
        self.park = gr.Dropdown(["", *PARKS], value="", label="所在园区", render=False)
        self.industry = gr.Textbox(label="行业", placeholder="例如：猕猴桃加工", render=False, elem_id="pf-industry")
        self.employees = gr.Number(label="从业人员（人）", precision=0, render=False)
        self.revenue = gr.Number(label="年营业收入（万元）", render=False)
        self.assets = gr.Number(label="资产总额（万元）", render=False)
        self.taxable = gr.Number(label="年应纳税所得额（万元）", render=False)
        self.ownership = gr.Dropdown(["未知", *OWNERSHIPS], value="未知", label="企业性质", render=False)
        self.founded = gr.Number(label="成立年份", precision=0, render=False)
        self.size = gr.Dropdown(SIZES, value="未知", label="规模（不知道人数和营收时）", render=False, elem_id="pf-size")
        self.high_tech = gr.Radio(YES_NO, value="未知", label="高新技术企业", render=False)
        self.exports = gr.Radio(YES_NO, value="未知", label="有出口业务", render=False)
        self.rnd = gr.Radio(YES_NO, value="未知", label="有研发投入", render=False)
        self.individual = gr.Radio(YES_NO, value="未知", label="个体工商户", render=False)
        self.needs = gr.Textbox(label="需求（用逗号分开）", placeholder="例如：想贷款扩产，要接电", render=False, elem_id="pf-needs")
        self.components = [
            self.region,
            self.park,
            self.industry,
            self.employees,
            self.revenue,
            self.assets,
            self.taxable,
            self.ownership,
            self.founded,
            self.size,
            self.high_tech,
            self.exports,
            self.rnd,
            self.individual,
            self.needs,
        ]

    def skip(self) -> list:
        return [gr.skip()] * len(self.components)

    @staticmethod
    def values(profile: Profile) -> list:
        def yes_no(value: bool | None) -> str:
            return "未知" if value is None else ("是" if value else "否")

        return [
            profile.region or "",
            profile.park or "",
            profile.industry or "",
            profile.employees,
            profile.annual_revenue_wan,
            profile.total_assets_wan,
            profile.taxable_income_wan,
            OWNERSHIP_NAMES.get(profile.ownership or "", "未知"),
            profile.founded_year,
            profile.declared_size or "未知",
            yes_no(profile.is_high_tech),
            yes_no(profile.exports),
            yes_no(profile.has_rnd),
            yes_no(profile.is_individual_business),
            "，".join(profile.needs),
        ]

    @staticmethod
    def profile(
        region, park, industry, employees, revenue, assets, taxable, ownership, founded, size, high_tech, exports, rnd, individual, needs
    ) -> Profile:
        def known(value: str) -> bool | None:
            return None if value == "未知" else value == "是"

        return Profile(
            region=region or None,
            park=park or None,
            industry=(industry or "").strip() or None,
            employees=int(employees) if employees is not None else None,
            annual_revenue_wan=revenue,
            total_assets_wan=assets,
            taxable_income_wan=taxable,
            ownership=OWNERSHIPS.get(ownership),
            founded_year=int(founded) if founded else None,
            declared_size=None if size == "未知" else size,
            is_high_tech=known(high_tech),
            exports=known(exports),
            has_rnd=known(rnd),
            is_individual_business=known(individual),
            needs=[n.strip() for n in re.split(r"[，,、；;\n]", needs or "") if n.strip()],
        )


def match_html(result: MatchResult) -> str:
    shown = len(result.items)
    head = f"<p>共有 <b>{result.total}</b> 项政策适用" + (f"，显示最相关的 {shown} 项。" if shown < result.total else "。") + "</p>"
    head += '<p class="meta">排序：先是每项需求最对口的条款（轮流排列），再按与企业情况的相关度。</p>' if result.profile.needs else ""
    cards = []
    for m in result.items:
        reasons = "".join(f"<li>✓ {html_text(r)}</li>" for r in m.reasons)
        doubts = "".join(f"<li>？{html_text(u)}</li>" for u in m.uncertain)
        contact = "、".join(m.departments["lead"]) or "—"
        cooperating = "、".join(m.departments["cooperating"])
        cards.append(
            f'<div class="match-card"><h4>《{html_text(m.doc_title)}》{html_text(m.doc_number)}</h4>'
            f'<p class="meta">第 {m.rank} 项 · {html_text(m.section)} · 相关度 {m.score}</p><ul>{reasons}{doubts}</ul>'
            f"<p>政策类型：{html_text('、'.join(m.benefit) or '—')}；牵头：{html_text(contact)}"
            + (f"；配合：{html_text(cooperating)}" if cooperating else "")
            + f'</p><details><summary>条款原文</summary><div class="section-text">{html_text(m.text)}</div></details></div>'
        )
    return f'<div class="source-view">{head}{"".join(cards)}</div>'


def match_tab(service: Service, form: ProfileForm) -> None:
    gr.Markdown("填写企业情况，查找适用的政策。不知道的项留空或选“未知”：未知不等于“否”，相关条件会列为待核实。")
    with gr.Row():
        form.region.render()
        form.park.render()
        form.industry.render()
    with gr.Row():
        form.employees.render()
        form.revenue.render()
        form.assets.render()
        form.taxable.render()
        form.founded.render()
    with gr.Row():
        form.ownership.render()
        form.size.render()
    with gr.Row():
        form.high_tech.render()
        form.exports.render()
        form.rnd.render()
        form.individual.render()
    form.needs.render()
    with gr.Row():
        show_all = gr.Checkbox(label="显示全部适用政策", value=False)
        run = gr.Button("匹配政策", variant="primary", elem_id="match-button")
    results = gr.HTML(elem_id="match-results")

    def run_match(everything: bool, *values):
        try:
            result = service.match(ProfileForm.profile(*values), limit=None if everything else 20)
        except (PolicyQAError, ValueError) as error:
            return html_problem(error)
        return match_html(result)

    run.click(run_match, [show_all, *form.components], results)
