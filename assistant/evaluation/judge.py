"""An optional LLM judge for the eval: a Chinese prompt asks the configured model whether an answer is
correct (agrees with the reference on the key facts) and faithful (every claim supported by the quotes it
cites). The eval reports how often the judge agrees with the `must_include` check.
"""

import json
import re

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from assistant.evaluation.metrics import GoldItem

JUDGE_SYSTEM = """你是严谨的政策解读员，负责评估一个政策问答系统的回答。请判断：
1. correct：系统回答在关键事实（数字、比例、期限、部门、条件）上是否与参考答案一致。参考答案说明“没有相关规定”时，系统应明确说没有找到依据才算正确。
2. faithful：系统回答中的每一个陈述是否都能由它引用的原文支持；没有引用的具体数字或部门算不忠实。
只输出一个 JSON 对象，不要输出别的内容：{{"correct": true 或 false, "faithful": true 或 false, "reason": "一句话理由"}}"""

JUDGE_HUMAN = """问题：{question}

参考答案：{reference}

系统回答：{answer}

系统引用的原文：
{quotes}"""

JUDGE_PROMPT = ChatPromptTemplate.from_messages([("system", JUDGE_SYSTEM), ("human", JUDGE_HUMAN)])


def judge(model: BaseChatModel, item: GoldItem, answer: dict) -> dict:
    """{"correct", "faithful", "reason"}, or {"error"} when the judge's reply is not that JSON."""
    quotes = "\n".join(f"[{c['n']}] {c['quote']}" for c in answer["citations"]) or "（无）"
    try:
        reply = (JUDGE_PROMPT | model | StrOutputParser()).invoke(
            {"question": item.question, "reference": item.answer, "answer": answer["answer"], "quotes": quotes}
        )
    except Exception as error:  # noqa: BLE001 — a judge that fails marks the row, it does not stop the eval
        return {"error": f"judge unavailable ({type(error).__name__})"}
    match = re.search(r"\{.*\}", reply, re.S)
    try:
        verdict = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        verdict = None
    if not isinstance(verdict, dict) or not {"correct", "faithful"} <= set(verdict):
        return {"error": "the judge did not answer with the expected JSON"}
    return {"correct": bool(verdict["correct"]), "faithful": bool(verdict["faithful"]), "reason": str(verdict.get("reason", ""))}
