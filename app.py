"""广圆享 web app entry: for now a search page over the knowledge base (the chat UI comes with issue 4)."""

import os

# Offline first: Gradio must not phone home with usage analytics.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from assistant.index import KnowledgeBase, KnowledgeBaseError  # noqa: E402
from assistant.retrieval import search  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def build_app(settings: Settings) -> gr.Blocks:
    try:
        kb: KnowledgeBase | None = KnowledgeBase(settings)
        problem = ""
    except KnowledgeBaseError as error:
        kb, problem = None, str(error)

    def run_search(question: str) -> list[list]:
        if kb is None or not question.strip():
            return []
        return [
            [h.rank, h.chunk.doc_title, h.chunk.doc_number, h.chunk.section, h.chunk.text]
            for h in search(kb, question, settings.top_k)
        ]

    with gr.Blocks(title="广圆享 政策智能问答") as app:
        gr.Markdown("# 广圆享 · 惠企政策检索\n输入问题，查找相关政策条款（智能问答界面即将上线）。")
        if problem:
            gr.Markdown(f"**索引不可用：** {problem}")
        question = gr.Textbox(label="您的问题", placeholder="例如：我们是小微企业，用电接入要自己出钱吗？")
        results = gr.Dataframe(headers=["排名", "文件", "文号", "章节", "条款原文"], wrap=True)
        question.submit(run_search, question, results)
        gr.Button("检索", variant="primary").click(run_search, question, results)
    return app


if __name__ == "__main__":
    settings = Settings()
    build_app(settings).launch(server_name=settings.host, server_port=settings.port)
