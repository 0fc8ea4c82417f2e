"""Answers as plain text, the same for every face that shows text (the CLI, the OpenAI-compatible API): the
来源 list under an answer, and the heading of an interpreter-verified answer with its own sources."""

from assistant.documents.amendments import Amendment


def sources_text(citations: list[dict], notice: str | None = None) -> str:
    """`注意：…`, then `来源：` with each `[n]`, its document, 文号, section, page and the verbatim quote. Citations
    are JSON objects: an answer's, or those a verified answer was stored with."""
    lines = []
    if notice:
        lines += ["", f"注意：{notice}"]
    if citations:
        lines += ["", "来源："]
    for c in citations:
        page = f"第{c['page']}页" if c.get("page") else ""
        where = "  ".join(part for part in (c.get("doc_number"), c.get("section"), page, c.get("note")) if part)
        lines.append(f"[{c.get('n')}] 《{c.get('doc_title')}》" + (f"  {where}" if where else ""))
        lines.append(f"    “{c.get('quote')}”")
        lines += [f"    ⚠️ {Amendment(**note).sentence()}" for note in c.get("amendments") or []]
    return "\n".join(lines)


def verified_text(review) -> str:
    """An interpreter-verified answer (a `Review`) with its own sources, and the heading of the new answer after it."""
    if review is None:
        return ""
    who = f"{review.reviewer}，" if review.reviewer else ""
    head = f"✅ 经政策解读员核对的回答（{who}{review.created[:10]}）：\n{review.answer}"
    return head + sources_text(review.citations) + "\n\n本次检索生成的回答：\n"
