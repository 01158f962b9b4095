"""Does retrieval memory find the facts, and do replies use them? (part of eval_text)

- Retrieval: for each held-out question, the rank of the first snippet that holds the fact (one of
  the question's `evidence` lines, or else one of its `answers`) under lexical, dense and hybrid
  search: recall@k and MRR, over all questions and for Chinese and English questions apart.
- Replies: the persona model answers each question with and without memory (same seeds); a reply is
  fact-consistent when it contains one of the answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.memory import CHINESE_SHARE, MemoryIndex, Snippet, cjk_share, query_of

RECALL_AT = (1, 3, 5)
MRR_DEPTH = 10


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: list[str]
    evidence: list[str]

    @property
    def window(self) -> str:
        """The question as a live window: someone asks the persona."""
        return f"<U1>: {self.question}"


def read_questions(path: Path) -> list[Question]:
    """Questions from a JSON-lines file; each line {"id", "question", "answers": [...], "evidence"?}."""
    questions = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            q = Question(
                str(row["id"]),
                str(row["question"]),
                [str(a) for a in row["answers"]],
                [str(e) for e in row.get("evidence", [])],
            )
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(
                f'{path}, line {n}: expected {{"id", "question", "answers": [...]}} ({e})'
            ) from None
        if not q.answers:
            raise ValueError(f"{path}, line {n}: question {q.id} has no answers")
        questions.append(q)
    return questions


def holds_fact(snippet: Snippet, q: Question) -> bool:
    text = snippet.text.casefold()
    return any(e.casefold() in text for e in (q.evidence or q.answers))


def consistent(reply: str, q: Question) -> bool:
    return any(a.casefold() in reply.casefold() for a in q.answers)


def language(text: str) -> str:
    """ "zh" for a question mostly in Chinese characters, else "en" (the demo's two languages)."""
    return "zh" if cjk_share([text]) >= CHINESE_SHARE else "en"


def _rank_metrics(ranks: Sequence[int | None]) -> dict:
    n = max(len(ranks), 1)
    return {
        **{f"recall_at_{k}": round(sum(r is not None and r <= k for r in ranks) / n, 4) for k in RECALL_AT},
        "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
        "questions": len(ranks),
    }


def retrieval_metrics(
    index: MemoryIndex, questions: Sequence[Question], query_messages: int, modes: Sequence[str], **search
) -> dict:
    """recall@k and MRR@10 per mode (a mode the index cannot serve is left out), over all questions
    and per question language (`by_language`: en, zh). `dense` measures the encoder on every
    question; `hybrid` is as served (`dense_for_chinese` among `search`)."""
    out = {}
    for mode in modes:
        if mode != "lexical" and not index.has_dense:
            continue
        ranks = []
        settings = {**search, "dense_for_chinese": True} if mode == "dense" else search
        for q in questions:
            hits = index.search(query_of(q.window, query_messages), MRR_DEPTH, mode, **settings)
            ranks.append(next((r for r, h in enumerate(hits, start=1) if holds_fact(h.snippet, q)), None))
        langs = [language(q.question) for q in questions]
        out[mode] = {
            **_rank_metrics(ranks),
            "by_language": {
                lang: _rank_metrics([r for r, ql in zip(ranks, langs, strict=True) if ql == lang])
                for lang in sorted(set(langs))
            },
        }
    return out


def fact_consistency(replies: Sequence[str], questions: Sequence[Question]) -> float:
    return round(
        sum(consistent(r, q) for r, q in zip(replies, questions, strict=True)) / max(len(questions), 1), 4
    )
