"""The answerer that needs no language model: it quotes the sentences of the retrieved passages that best
answer the question, so every word of substance in its answer is verbatim policy text.

Each sentence of the top passages is scored against the question twice: lexically (the share of the
question's words, weighted by how rare they are in the corpus, that the sentence or its section contains)
and semantically (cosine of the e5 query and passage vectors), plus `asked_fact_bonus` when it states the kind
of fact asked (a period, an amount …); that is its support. Its passage's evidence is added to order the
sentences. When the best support is below the calibrated `refusal_threshold`, or a question asking for a
quantity gets a best-ordered sentence stating none of that kind, the answer says that no clause answers the
question and lists the closest ones instead. A question that asks two or three things also gets the best
sentence for each part.
"""

import re
from dataclasses import dataclass, replace

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.answering.citations import Citation, Span, sentence_spans
from assistant.documents.chunking import Chunk
from assistant.documents.sentences import is_statement
from assistant.index.knowledge_base import KnowledgeBase
from assistant.retrieval.hybrid import SearchHit
from assistant.vocabulary import DUTY_LINE, REFUSAL, duty_units, without_city_name

OWNER_QUESTION = re.compile(r"谁|哪个部门|哪些部门|哪个单位|哪家单位|什么部门|牵头|负责|找哪|主管|配合")
LIST_QUESTION = re.compile(r"哪些|哪几|有什么|包括|渠道|方式|途径|措施|几种|列举")
# A question asking for a quantity is answered only by a sentence that states one of that kind.
_CN_DIGITS = "一二三四五六七八九十百千万亿两〇零"
ASKED_QUANTITY: list[tuple[str, re.Pattern]] = [
    ("ratio", re.compile(r"百分之几|百分之多少|多少比例|比例|百分比|费率|税率|利率|几成|多少%|扣除多少")),
    (
        "money",
        re.compile(r"多少[^，。？?]{0,4}(?:钱|元|万|费|补贴|补助|奖励|资金)|金额是多少|(?:奖励|补贴|补助|资助|拿到|给)多少|标准是多少"),
    ),
    # Only an explicit count of days or hours: "多久" is as often answered by "每季度" or "及时".
    ("time", re.compile(r"几个工作日|多少个工作日|几天|多少天|几个小时|多少小时|几个月|多少个月|几年|多少年")),
]
STATED_QUANTITY = {
    "ratio": re.compile(rf"\d\s*[%％‰]|百分之[{_CN_DIGITS}\d.]+|[千万]分之[{_CN_DIGITS}\d.]+|[{_CN_DIGITS}]成|\d+(?:\.\d+)?倍"),
    "money": re.compile(rf"[\d{_CN_DIGITS}.]+\s*(?:万元|亿元|元)"),
    "time": re.compile(rf"[\d{_CN_DIGITS}]+\s*个?(?:工作日|日|天|小时|月|年|周|季度)|每[日天周月季年]"),
}
# Beyond a quantity, what else a question may ask for, and the sentences that state that kind of fact: the
# one that holds what is asked is preferred to the one most like the question (`asked_fact_bonus`).
ASKED_FACT: list[tuple[str, re.Pattern]] = [
    ("period", re.compile(r"多久|多长时间|多长|期限|什么时候|何时|时限|有效期|几年|几个月|几天|多少天|多少年")),
    ("money", ASKED_QUANTITY[1][1]),
    ("ratio", ASKED_QUANTITY[0][1]),
    ("allowed", re.compile(r"能不能|可不可以|可以吗|能吗|行不行|允许|是否可以|让不让|算不算|违法吗|合法吗|要不要|必须")),
    ("procedure", re.compile(r"怎么办|怎么申请|如何申请|怎么弄|流程|手续|去哪|找谁办|如何办理|怎样办理|怎么办理|申请")),
    ("conditions", re.compile(r"条件|要求|门槛|什么样的|哪些企业|够不够|符合|资格")),
]
STATED_FACT = {
    "period": re.compile(STATED_QUANTITY["time"].pattern + r"|期限|之日起|以内|届满"),
    "money": STATED_QUANTITY["money"],
    "ratio": STATED_QUANTITY["ratio"],
    "allowed": re.compile(r"可以|不得|禁止|应当|有权|允许|不予|免予|无需|不需要"),
    "procedure": re.compile(r"申请|办理|提交|提出|登记|备案|向[^，。]{0,12}(?:部门|机关|机构)"),
    "conditions": re.compile(r"符合|条件|具备|满足|应当具有|是指"),
}
# A sentence that qualifies the one before it and means little without it: "合同另有约定的，从其约定…" after the
# period it extends, "逾期未全部支付的，出让方有权解除合同" after the duty, a list item "（四）…" under the
# "…不得有下列行为：" that says what the list is (`complete_provisions`).
QUALIFIES_PREVIOUS = re.compile(
    r"^(?:[（(][一二三四五六七八九十\d]{1,3}[）)]|合同另有约定|但|其中|逾期|否则|超过|前款|上述|同时|对其中|届满|未按)"
)
LIST_ITEM = re.compile(r"^[（(][一二三四五六七八九十\d]{1,3}[）)]")
# "具备下列条件的失业人员，可以领取失业保险金：": a list whose items all must hold, not alternatives.
# ("符合下列条件之一的" and "不符合下列条件的" are not: one item is enough, or the list is what excludes.)
CONDITIONS_LEAD = re.compile(r"(?<!不)(?:具备|符合|满足)下列(?:全部)?条件(?!之一)|同时(?:具备|符合|满足)")
# "本法所称小型微利企业，是指…": a sentence that defines a term the answer rests on.
DEFINITION = re.compile(r"([\u4e00-\u9fff“”]{2,20}?)[，,]?是指")

# A question may ask two things at once ("能去哪投诉？投诉了多久给处理？"): its parts are what comes before each question
# mark. Text after the last one is no part (a statement such as "我想看看自己沾不沾边。", or the terms a follow-up
# borrowed from the question before it), and a part needs four Chinese characters to ask something ("是吗？" does not).
ASKED_PART = re.compile(r"([^？?]+)[？?]")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
MAX_QUESTION_PARTS = 3

# Cues that a question leans on the one before it: "那小微企业呢？", "还有别的吗", "它的期限是多久".
FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|此外|如果|要是|它|其|这|该|他们|对于)|呢[？?]?$")

# The dense similarity range mapped onto 0..1, set on the first 61 gold questions (README "How the extractive
# answerer decides"): e5 cosine similarities of related Chinese sentences sit between about 0.75 and 0.92.
DENSE_LOW, DENSE_HIGH = 0.75, 0.92
MAX_LIST_SENTENCES = 6
# Sentences whose score falls short of the best one's by less than (1 - KEEP_RATIO) × its support are quoted too.
KEEP_RATIO = 0.8


def paragraphs(chunk: Chunk) -> list[Span]:
    """The chunk's stating sentences joined into one span per line of text: each runs from the first statement on
    its line to the last (a quote never spans a line break)."""
    lines: list[list[Span]] = []
    for span in sentence_spans(chunk):
        if not is_statement(span.text, span.start == 0):
            continue
        if lines and "\n" not in chunk.text[lines[-1][-1].end : span.start]:
            lines[-1].append(span)
        else:
            lines.append([span])
    return [Span(chunk, line[0].start, line[-1].end) for line in lines]


def quote_line(citation: Citation) -> str:
    """A quote as an extractive answer lists it (notes are put before these lines by the text they hold)."""
    return f"{citation.n}. {citation.quote}[{citation.n}]"


def dense_scale(similarity: float) -> float:
    """An e5 cosine mapped from DENSE_LOW..DENSE_HIGH onto 0..1."""
    return min(max((similarity - DENSE_LOW) / (DENSE_HIGH - DENSE_LOW), 0.0), 1.0)


@dataclass
class Evidence:
    span: Span
    rank: int  # retrieval rank of its chunk
    lexical: float
    dense: float
    bonus: float = 0.0  # the sentence states the kind of fact the question asks for
    lexical_weight: float = 0.3  # settings.evidence_lexical_weight
    rank_bonus: float = 0.0  # settings.evidence_rank_bonus / the rank of its passage
    passage: float = 0.0  # how well its passage answers the question as a whole (`passage_evidence`)

    @property
    def support(self) -> float:
        """How well the sentence answers the question by itself (with the asked-fact bonus): what a refusal is
        decided on."""
        return self.lexical_weight * self.lexical + (1 - self.lexical_weight) * dense_scale(self.dense) + self.bonus

    @property
    def score(self) -> float:
        """What orders the sentences: their support, and how well their passage answers the question."""
        return self.support + self.rank_bonus + self.passage


@dataclass
class ExtractiveAnswer:
    answer: str
    citations: list[Citation]
    refused: bool
    best_score: float


@dataclass
class Sentences:
    """What an answer's passages offer, read once and scored against the question and against each of its parts:
    the candidate sentences (with their passage's rank) and their vectors, and the stored vectors of the questions
    attached to each passage's section, by chunk id."""

    spans: list[tuple[int, Span]]
    vectors: np.ndarray
    attached: dict[str, list[list[float]]]


def question_kind(question: str) -> str:
    if OWNER_QUESTION.search(question):
        return "owner"
    if LIST_QUESTION.search(question):
        return "list"
    return "general"


def asked_facts(question: str) -> list[str]:
    """The kinds of fact a question asks for: period, money, ratio, allowed, procedure, conditions."""
    return [kind for kind, pattern in ASKED_FACT if pattern.search(question)]


def asked_quantities(question: str) -> list[str]:
    """The kinds of quantity a question asks for; "股东交了多少钱…多少天内公示？" asks for two."""
    return [kind for kind, pattern in ASKED_QUANTITY if pattern.search(question)]


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks more than one thing, at most MAX_QUESTION_PARTS; [] when it asks one."""
    asked = [part.strip() for part in ASKED_PART.findall(question) if len(CHINESE.findall(part)) >= 4]
    parts = list(dict.fromkeys(asked))
    return parts[:MAX_QUESTION_PARTS] if len(parts) > 1 else []


def best_first(evidence: list[Evidence]) -> list[Evidence]:
    """Sentences by score; a tie goes to the better-ranked passage, then to the earlier sentence in it."""
    return sorted(evidence, key=lambda e: (-e.score, e.rank, e.span.start))


def repeats(candidate: Evidence, chosen: list[Evidence]) -> bool:
    """Whether a chosen quote already says this sentence (the same text, or a longer one holding it)."""
    return any(candidate.span.text == c.span.text or candidate.span.text in c.span.text for c in chosen)


def merge_follow_up(question: str, history_questions: list[str], kb: KnowledgeBase) -> str:
    """A follow-up borrows the key terms of the previous question that it does not replace.

    "用气报装最快几个工作日？" then "那用水呢？" searches "那用水呢？ 报装 最快 几个 工作日": 用气 is left
    behind because the follow-up names a term of the same kind in its place (they share a character).
    """
    if not history_questions:
        return question
    own = kb.lexical.tokenizer(question)
    if not FOLLOW_UP.search(question.strip()) and len(own) > 3:
        return question
    previous = list(dict.fromkeys(kb.lexical.tokenizer(history_questions[-1])))
    # The finest tokens: a compound such as 用气报装 gives way to 用气 and 报装.
    finest = [t for t in previous if not any(other != t and other in t for other in previous)]
    borrowed = [t for t in finest if t not in question and not set(t) & set("".join(own))]
    return f"{question} {' '.join(borrowed)}".strip() if borrowed else question


class Extractor:
    def __init__(self, kb: KnowledgeBase, embedder: Embeddings):
        self.kb = kb
        self.embedder = embedder
        self._definitions: dict[str, list[Span]] = {}

    def coverage(self, terms: list[str], weights: list[float], text: str) -> float:
        total = sum(weights)
        return sum(w for t, w in zip(terms, weights) if t in text) / total if total else 0.0

    def evidence(self, question: str, hits: list[SearchHit]) -> list[Evidence]:
        """Every candidate sentence of the passages, scored against the question (`answer` does the two steps itself,
        to score the same sentences against each part of a question too)."""
        return self.scored(question, self.sentences(hits), hits)

    def sentences(self, hits: list[SearchHit]) -> Sentences:
        """The passages' candidate sentences, in passage order, with their vectors."""
        # Headings say little alone, and a 责任单位 line is added by owner_line where it is asked for. These are the
        # sentences the index embedded as search keys, so their vectors come from the cache.
        spans = [(hit.rank, span) for hit in hits for span in sentence_spans(hit.chunk)]
        spans = [(rank, span) for rank, span in spans if is_statement(span.text, span.start == 0)]
        vectors = np.asarray(self.embedder.embed_documents([span.text for _, span in spans])) if spans else np.zeros((0, 0))
        attached = self.attached_questions(hits) if self.kb.settings.evidence_question_weight else {}
        return Sentences(spans, vectors, attached)

    def own_hits(self, hits: list[SearchHit]) -> list[SearchHit]:
        """The passages of this index: a passage from elsewhere (the eval's baseline splits the documents its own
        way) has its search score on another scale, and no attached questions."""
        return [hit for hit in hits if hit.chunk.chunk_id in self.kb.chunks]

    def attached_questions(self, hits: list[SearchHit]) -> dict[str, list[list[float]]]:
        """The stored vectors of the questions attached to each passage's section (one read for all passages)."""
        ids = {
            hit.chunk.chunk_id: self.kb.questions_by_section.get((hit.chunk.doc_id, hit.chunk.section), []) for hit in self.own_hits(hits)
        }
        vectors = self.kb.question_vectors(sorted({q for group in ids.values() for q in group}))
        return {chunk_id: [vectors[q] for q in group if q in vectors] for chunk_id, group in ids.items()}

    def scored(self, question: str, sentences: Sentences, hits: list[SearchHit]) -> list[Evidence]:
        """The sentences as evidence for `question`, in the order of `sentences.spans`; `hits` give what each
        sentence's passage adds (`passage_evidence`)."""
        # The city's name chooses the documents (search's `place_weight`), not the sentence: every sentence of the
        # plan is about 广元, and those that spell it out (《广元市优化营商环境条例》…) would win every question that
        # names it. A county's name stays: it can single out the measure for that county.
        question = without_city_name(question)
        if not sentences.spans:
            return []
        terms = list(dict.fromkeys(self.kb.lexical.tokenizer(question)))
        weights = [self.kb.lexical.idf(t) for t in terms]
        spans, vectors = sentences.spans, sentences.vectors
        query = np.asarray(self.embedder.embed_query(question))
        dense = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query) + 1e-9)
        asked = asked_facts(question)
        settings = self.kb.settings
        bonus = settings.asked_fact_bonus
        passages = self.passage_evidence(query, hits, sentences.attached)
        found = []
        for (rank, span), similarity in zip(spans, dense):
            own = self.coverage(terms, weights, span.text.lower())
            context = self.coverage(terms, weights, f"{span.chunk.section} {span.chunk.text}".lower())
            states = bonus if bonus and any(STATED_FACT[kind].search(span.text) for kind in asked) else 0.0
            # The sentence's own words count most; its section and neighbours say what it is about.
            lexical = 0.7 * own + 0.3 * context
            found.append(
                Evidence(
                    span,
                    rank,
                    lexical,
                    float(similarity),
                    states,
                    settings.evidence_lexical_weight,
                    settings.evidence_rank_bonus / rank,
                    passages.get(span.chunk.chunk_id, 0.0),
                )
            )
        return found

    def passage_evidence(self, query: np.ndarray, hits: list[SearchHit], attached: dict[str, list[list[float]]]) -> dict[str, float]:
        """What a passage adds to the score of each of its sentences: the sentence most like the question is often
        not the one that answers it, while search, with the attached questions, knows better which passage does.
        Two parts: the passage's fused search score relative to the best passage's (`evidence_search_weight`),
        and how close the question is to the nearest question attached to its section, on the dense scale
        (`evidence_question_weight`), from the `attached` questions' vectors (`attached_questions`)."""
        settings = self.kb.settings
        found = {hit.chunk.chunk_id: 0.0 for hit in hits}
        ours = self.own_hits(hits)
        top = max((hit.score for hit in ours), default=0.0)
        if settings.evidence_search_weight and top > 0:
            for hit in ours:
                found[hit.chunk.chunk_id] += settings.evidence_search_weight * hit.score / top
        if settings.evidence_question_weight:
            unit = query / (np.linalg.norm(query) + 1e-9)
            for chunk_id, vectors in attached.items():
                similarities = [float(np.dot(vector, unit) / (np.linalg.norm(vector) + 1e-9)) for vector in vectors]
                if similarities:
                    found[chunk_id] += settings.evidence_question_weight * dense_scale(max(similarities))
        return found

    def answer(self, question: str, hits: list[SearchHit], threshold: float) -> ExtractiveAnswer:
        sentences = self.sentences(hits)
        in_order = self.scored(question, sentences, hits)  # one per sentence, in the order of `sentences.spans`
        evidence = best_first(in_order)
        if not evidence:
            return ExtractiveAnswer(REFUSAL + "检索没有找到相关条款。", [], True, 0.0)
        best = evidence[0].score
        kind = question_kind(question)
        limit = MAX_LIST_SENTENCES if kind == "list" else self.kb.settings.max_quoted_sentences
        # "Close to the best" is measured on the support's scale: two sentences of one passage share its passage
        # evidence, which would otherwise make every sentence of the best passage look close.
        margin = (1 - KEEP_RATIO) * evidence[0].support
        chosen = self.distinct([e for e in evidence if e.score >= best - margin], limit)
        if max(e.support for e in evidence) < threshold or not self.states_asked_quantity(question, evidence):
            lines, citations = self.quote_lines(self.distinct(evidence, 2))
            answer = REFUSAL + "以下是最相关的条款，供参考：\n" + "\n".join(lines)
            return ExtractiveAnswer(answer, citations, True, best)
        if kind == "list":
            chosen = self.with_list_items(chosen, evidence, limit)
        if self.kb.settings.answer_each_part:
            chosen = self.with_each_part(question, sentences, hits, chosen, in_order)
        chosen = self.with_continuations(chosen, evidence)
        if self.kb.settings.complete_provisions:
            chosen = self.with_provisions(chosen)
        if self.kb.settings.add_definitions:
            chosen = self.with_definitions(chosen, evidence)
        if self.kb.settings.whole_passage_chars:
            chosen = self.with_whole_passage(chosen, self.kb.settings.whole_passage_chars, limit)
        chosen.sort(key=lambda e: (e.rank, e.span.start))
        lines, citations = self.quote_lines(chosen)
        answer = "根据现有政策条款：\n" + "\n".join(lines)
        if kind == "owner":
            answer += self.owner_line(chosen, citations, hits)
        return ExtractiveAnswer(answer, citations, False, best)

    @staticmethod
    def states_asked_quantity(question: str, evidence: list[Evidence]) -> bool:
        quantities = asked_quantities(question)
        if not quantities:
            return True
        # A figure of the asked kind in a weaker sentence belongs to some other matter (measured on
        # eval/gold.jsonl: requiring it of the best sentence refuses the most unanswerable questions).
        best = evidence[0].score
        # A question asking for two quantities is answered by a sentence stating either: it may be two questions.
        return any(STATED_QUANTITY[kind].search(e.span.text) for kind in quantities for e in evidence if e.score >= best)

    @staticmethod
    def distinct(evidence: list[Evidence], limit: int) -> list[Evidence]:
        chosen: list[Evidence] = []
        for e in evidence:
            if len(chosen) == limit:
                break
            if not repeats(e, chosen):
                chosen.append(e)
        return chosen

    def with_each_part(
        self, question: str, sentences: Sentences, hits: list[SearchHit], chosen: list[Evidence], in_order: list[Evidence]
    ) -> list[Evidence]:
        """The best sentence for each part of a question that asks two or three things, added to the chosen ones.
        Scored against the whole question, the sentences answering the part that shares more words with the
        passages take every place, and the other part goes unanswered."""
        result = list(chosen)
        for part in question_parts(question):
            by_part = self.scored(part, sentences, hits)  # in the order of `in_order`
            at = by_part.index(best_first(by_part)[0])  # `answer` has returned if there are no sentences
            # The sentence is added with its score for the whole question (`in_order`), which later steps order by.
            best = in_order[at]
            if not repeats(best, result):
                result.append(best)
        return result

    @staticmethod
    def with_list_items(chosen: list[Evidence], evidence: list[Evidence], limit: int) -> list[Evidence]:
        """A list question wants the enumerated items of the best chunk, not just its best sentence."""
        top_chunk = chosen[0].span.chunk.chunk_id
        siblings = sorted((e for e in evidence if e.span.chunk.chunk_id == top_chunk), key=lambda e: e.span.start)
        for e in siblings:
            if len(chosen) >= limit:
                break
            if e not in chosen and not DUTY_LINE.match(e.span.text):
                chosen.append(e)
        return chosen

    @staticmethod
    def with_continuations(chosen: list[Evidence], evidence: list[Evidence]) -> list[Evidence]:
        """A sentence ending in `；` or `：` is half a provision ("…50%加计扣除；形成无形资产的…150%摊销。"):
        the sentences that complete it follow, up to the one that ends the provision."""
        result = list(chosen)
        for e in chosen:
            following = sorted(
                (f for f in evidence if f.span.chunk is e.span.chunk and f.span.start > e.span.start),
                key=lambda f: f.span.start,
            )
            current = e
            for f in following[:MAX_LIST_SENTENCES]:
                if not current.span.text.endswith(("；", "：", ";", ":")):
                    break
                if f not in result:
                    result.append(f)
                current = f
        return result

    @staticmethod
    def with_provisions(chosen: list[Evidence]) -> list[Evidence]:
        """Each quoted sentence with what it cannot be read without, from its own chunk: the sentence it
        qualifies (and a list item's lead-in ending in `：`, with the other items when they are conditions that
        must all hold), and the sentence after it that qualifies it."""
        result = list(chosen)
        quoted = {(e.span.chunk.chunk_id, e.span.start) for e in result}

        def add(span: Span, rank: int) -> None:
            if (span.chunk.chunk_id, span.start) not in quoted and not DUTY_LINE.match(span.text):
                quoted.add((span.chunk.chunk_id, span.start))
                result.append(Evidence(span, rank, 0.0, 0.0))

        for e in chosen:
            spans = sentence_spans(e.span.chunk)
            at = next((i for i, s in enumerate(spans) if s.start == e.span.start), None)
            if at is None:
                continue
            if at > 0 and QUALIFIES_PREVIOUS.match(e.span.text):
                lead = at - 1
                if LIST_ITEM.match(e.span.text):
                    # Back over the sibling items to the sentence that introduces the list.
                    while lead > 0 and not spans[lead].text.endswith(("：", ":")):
                        lead -= 1
                    if CONDITIONS_LEAD.search(spans[lead].text):
                        # Conditions hold together: one of them alone misstates who qualifies.
                        for item in Extractor.list_after(spans, lead)[:MAX_LIST_SENTENCES]:
                            add(item, e.rank)
                add(spans[lead], e.rank)
            if at + 1 < len(spans) and QUALIFIES_PREVIOUS.match(spans[at + 1].text) and not LIST_ITEM.match(spans[at + 1].text):
                add(spans[at + 1], e.rank)
        return result

    @staticmethod
    def list_after(spans: list[Span], lead: int) -> list[Span]:
        """The enumerated items "（一）…" that follow the lead-in at `lead`."""
        items = []
        for span in spans[lead + 1 :]:
            if not LIST_ITEM.match(span.text):
                break
            items.append(span)
        return items

    @staticmethod
    def with_whole_passage(chosen: list[Evidence], max_chars: int, limit: int) -> list[Evidence]:
        """The best sentence's passage quoted whole, one quote per paragraph in its own order, in place of the
        sentences chosen from it, when it has at most `max_chars` characters and at most `limit` paragraphs (so the
        answer's quote limit bounds it too). The quotes keep the best sentence's scores: `owner_line` orders by them."""
        best = chosen[0]  # `distinct` takes the best-ordered sentence first, and every step after it appends
        chunk = best.span.chunk
        if len(chunk.text) > max_chars:
            return chosen
        whole = paragraphs(chunk)
        if len(whole) > limit or whole == [best.span]:
            return chosen
        return [replace(best, span=span) for span in whole] + [e for e in chosen[1:] if e.span.chunk.chunk_id != chunk.chunk_id]

    def with_definitions(self, chosen: list[Evidence], evidence: list[Evidence]) -> list[Evidence]:
        """An answer about "小型微利企业" or "符合条件的…" rests on what the document says the term means: the
        sentence of the same document that defines a term a chosen sentence uses comes with it."""
        result = list(chosen)
        for e in chosen:
            for definition in self.definitions(e.span.chunk.doc_id):
                term = DEFINITION.search(definition.text).group(1).split("所称")[-1].strip("“”")
                if term in e.span.text and definition.text != e.span.text and all(d.span.text != definition.text for d in result):
                    result.append(Evidence(definition, e.rank, 0.0, 0.0))
                    break
        return result

    def definitions(self, doc_id: str) -> list[Span]:
        """The sentences of a document that define a term (cached: documents do not change in an opened index)."""
        if doc_id not in self._definitions:
            chunks = [c for (d, _), group in self.kb.sections.items() if d == doc_id for c in group]
            self._definitions[doc_id] = [
                span for chunk in chunks for span in sentence_spans(chunk) if DEFINITION.search(span.text) and len(span.text) < 300
            ]
        return self._definitions[doc_id]

    @staticmethod
    def quote_lines(chosen: list[Evidence]) -> tuple[list[str], list[Citation]]:
        citations = [e.span.citation(n) for n, e in enumerate(chosen, start=1)]
        return [quote_line(c) for c in citations], citations

    def owner_line(self, chosen: list[Evidence], citations: list[Citation], hits: list[SearchHit]) -> str:
        """The lead and cooperating units of the measure the best sentence belongs to, quoted from its 责任单位 line."""
        # The best sentence's measure first; a law article has no 责任单位 line, so then the next chunk that has one.
        chunks = [e.span.chunk for e in sorted(chosen, key=lambda e: -e.score)] + [h.chunk for h in hits]
        span = next((s for s in map(self.duty_span, chunks) if s is not None), None)
        if span is None:
            return ""
        lead, cooperating = duty_units(span.text)
        existing = next((c for c in citations if c.chunk_id == span.chunk.chunk_id and c.start == span.citation(0).start), None)
        citation = existing or span.citation(len(citations) + 1)
        if existing is None:
            citations.append(citation)
        line = f"\n牵头单位：{lead}"
        if cooperating:
            line += f"；配合单位：{cooperating}"
        return line + f"。[{citation.n}]"

    def duty_span(self, chunk: Chunk) -> Span | None:
        """The 责任单位 line of a chunk's measure; a long measure may keep it in a sibling chunk."""
        if not chunk.duty:
            return None
        candidates = [chunk] + [c for c in self.kb.sections[(chunk.doc_id, chunk.section)] if c is not chunk]
        for candidate in candidates:
            for span in sentence_spans(candidate):
                if span.text == chunk.duty:
                    return span
        return None
