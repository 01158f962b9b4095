"""Retrieval memory: what may be remembered, how conversations become snippets, how the index ranks
them, and that the runtime's memory block respects its token budget."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from pipelines import memory
from pipelines.memory.__main__ import main as memory_main
from pipelines.stage import StageError
from runtime.memory import (
    Lexical,
    MemoryIndex,
    RetrievalSettings,
    Snippet,
    content_text,
    fit_memory,
    query_of,
    rrf,
    tokens,
    write_index,
)
from runtime.pii import find_pii
from runtime.prompt import encode_prompt, format_memory

TZ = "Asia/Shanghai"


def table(rows: list[tuple]) -> pd.DataFrame:
    """An anonymized message table from (chat, minute, speaker, text[, kind]) rows."""
    recs = []
    for i, row in enumerate(rows):
        chat, minute, speaker, text, *kind = row
        recs.append(
            {
                "chat": chat,
                "is_group": chat != "C1",
                "msg_id": f"{chat}-{i}",
                "ts": pd.Timestamp("2026-03-01 09:00", tz=TZ) + pd.Timedelta(minutes=minute),
                "speaker": speaker,
                "is_target": speaker == "<TARGET>",
                "kind": kind[0] if kind else "text",
                "text": text,
                "quote_of": "",
                "quote_speaker": "",
            }
        )
    return pd.DataFrame(recs)


# anonymize's private mapping for CHATS: how the user knows each chat and person
MAPPING = {
    "chats": {"C1": {"chat_id": "wxid_xiaoyu", "chat_name": "小雨"},
              "C2": {"chat_id": "3301@chatroom", "chat_name": "旅行计划"},
              "C3": {"chat_id": "4402@chatroom", "chat_name": "花园"}},
    "speakers": {"<TARGET>": {"sender_ids": ["wxid_meilan"], "names": ["外婆"]},
                 "<U3>": {"sender_ids": ["wxid_aunt_li"], "names": ["李阿姨", "Aunt Li"]},
                 "<U4>": {"sender_ids": ["wxid_zhou"], "names": ["Aunt Li"]}},
}  # fmt: skip
CHATS = table(
    [
        ("C1", 0, "<U1>", "grandma what are you cooking"),
        ("C1", 1, "<TARGET>", "my cat Mochi is 6 years old now"),
        ("C1", 2, "<U1>", "haha"),
        ("C1", 600, "<U1>", "call me at 13812345678 ok"),  # a new session (10 h later), with a phone number
        ("C1", 601, "<TARGET>", "ok"),
        ("C2", 0, "<U4>", "<U4> here, secret plans"),  # C2: not approved in some tests
        ("C2", 1, "<TARGET>", "Guilin in October!!"),
        ("C3", 0, "<U2>", "<U3> said the jasmine is blooming"),
        ("C3", 1, "<TARGET>", "i grew up in Suzhou, every house had jasmine"),
        ("C3", 2, "<U3>", "lovely"),
        ("C3", 3, "<TARGET>", "", "sticker"),
    ]
)


# ---------------------------------------------------------------------------- tokens, BM25, fusion


def test_tokens_cover_chinese_without_a_segmenter_and_skip_placeholders_and_function_words():
    assert tokens("<TARGET>: 我最拿手的是酒酿圆子") == [
        "我",
        "最",
        "拿",
        "手",
        "的",
        "是",
        "酒",
        "酿",
        "圆",
        "子",
        "我最",
        "最拿",
        "拿手",
        "手的",
        "的是",
        "是酒",
        "酒酿",
        "酿圆",
        "圆子",
    ]
    assert tokens("What is your cat's name? Sunflowers!") == ["cat's", "name", "sunflower"]
    assert tokens("<U3> <PHONE>") == []


def test_bm25_scores_match_the_formula():
    docs = [["cat", "mochi", "cat"], ["dog"], ["cat", "dog", "garden", "jasmine"]]
    lex = Lexical.build(docs, k1=1.2, b=0.75)
    n, avg = 3, (3 + 1 + 4) / 3

    def bm25(doc, term):
        df = sum(term in d for d in docs)
        tf = doc.count(term)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(doc) / avg)) if tf else 0.0

    expected = [bm25(d, "cat") + bm25(d, "dog") for d in docs]
    np.testing.assert_allclose(lex.scores(["cat", "dog", "unknown"]), expected, rtol=1e-5)
    assert lex.scores(["unknown"]).tolist() == [0, 0, 0]


def test_reciprocal_rank_fusion_prefers_what_both_retrievers_rank_well():
    lexical, dense = [0, 2, 3], [1, 2, 4]  # doc 2 is second in both, 0 and 1 first in only one
    fused = [doc for doc, _ in rrf([lexical, dense], k=60)]
    assert fused[0] == 2 and set(fused[1:3]) == {0, 1} and fused[-2:] == [3, 4]


def labelled_index(tmp_path) -> MemoryIndex:
    """Six snippets in six conversations, with hand-made 2-d 'embeddings' in which meaning, not
    wording, is close: the dense side finds the paraphrase, the lexical side the shared word."""
    texts = [
        "<TARGET>: my cat Mochi is 6 years old",  # 0 pet (shares "cat")
        "<TARGET>: the cat next door is loud",  # 1 shares "cat", other meaning
        "<TARGET>: i taught music for 31 years",  # 2 job (no shared words with the query)
        "<TARGET>: music on the radio today",  # 3
        "<TARGET>: Guilin in October with the club",  # 4 trip
        "<TARGET>: the weather is nice",  # 5
    ]
    vectors = np.array([[1, 0], [0.3, 0.95], [0, 1], [0.6, 0.8], [0.7, -0.7], [-1, 0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    snippets = [
        Snippet(f"s{i}", "C1", f"C1:{i}", "2026-03-01", 1e9 + i, ["<TARGET>"], t) for i, t in enumerate(texts)
    ]
    write_index(tmp_path, snippets, vectors, {})
    index = MemoryIndex.load(tmp_path, dense=False)
    index.dense = vectors  # as if encoded; queries pass their vector
    index.embedder = object()
    return index


def test_hybrid_finds_what_either_retriever_alone_misses(tmp_path):
    index = labelled_index(tmp_path)
    # "what's your cat called" means the pet (vector [1, 0]) and shares "cat" with s0 and s1.
    q = np.array([1.0, 0.0], dtype=np.float32)
    lexical = [h.snippet.id for h in index.search("what's your cat called", 3, "lexical")]
    dense = [
        h.snippet.id
        for h in index.search("what's your cat called", 3, "dense", query_vector=q, min_similarity=0.5)
    ]
    hybrid = index.search("what's your cat called", 3, "hybrid", query_vector=q, min_similarity=0.5)
    assert set(lexical) == {"s0", "s1"}  # only snippets that share a word
    assert dense[0] == "s0" and "s1" not in dense  # s1 says "cat" but means something else
    assert hybrid[0].snippet.id == "s0" and hybrid[0].ranks == {
        "lexical": lexical.index("s0") + 1,
        "dense": 1,
    }
    # A paraphrase with no shared word: only the dense side can find it.
    job = np.array([0.0, 1.0], dtype=np.float32)
    assert index.search("what was your work", 1, "lexical") == []
    assert index.search("what was your work", 1, "hybrid", query_vector=job)[0].snippet.id == "s2"


def test_a_snippet_is_as_close_as_its_best_line(tmp_path):
    """A fact is one line among chatter: averaging would hide it, the best line does not."""
    snippets = [
        Snippet(
            "fact", "C1", "C1:0", "2026-03-01", 0.0, ["<TARGET>"], "<TARGET>: my cat is Mochi / <PERSON>: lol"
        ),
        Snippet("vague", "C1", "C1:1", "2026-03-01", 0.0, ["<TARGET>"], "<TARGET>: pets are nice"),
    ]
    lines = np.array([[1.0, 0.0], [-1.0, 0.0], [0.7, 0.7]], dtype=np.float32)
    lines /= np.linalg.norm(lines, axis=1, keepdims=True)
    write_index(tmp_path, snippets, lines, {}, dense_lines=np.array([0, 2, 3]))
    index = MemoryIndex.load(tmp_path, dense=False)
    index.dense, index.dense_lines, index.embedder = lines, np.load(tmp_path / "dense_lines.npy"), object()
    q = np.array([1.0, 0.0], dtype=np.float32)
    np.testing.assert_allclose(index.similarity(q), [1.0, 0.7071], atol=1e-4)
    assert index.search("what is the cat called", 1, "dense", query_vector=q)[0].snippet.id == "fact"
    with pytest.raises(ValueError, match="dense_lines"):
        write_index(tmp_path, snippets, lines, {}, dense_lines=np.array([0, 3]))


def test_search_can_exclude_a_conversation_and_the_future(tmp_path):
    index = labelled_index(tmp_path)
    assert index.search("cat", 5, "lexical", exclude_session="C1:0")[0].snippet.id == "s1"
    assert [h.snippet.id for h in index.search("cat music", 5, "lexical", before_ts=1e9 + 1)] == ["s0"]


def test_one_snippet_per_conversation_in_the_results(tmp_path):
    same = [
        Snippet(f"s{i}", "C1", "C1:0", "2026-03-01", 1e9, ["<TARGET>"], f"<TARGET>: Mochi {i}")
        for i in range(3)
    ]
    write_index(
        tmp_path,
        [*same, Snippet("x", "C1", "C1:1", "2026-03-02", 1e9, ["<TARGET>"], "<TARGET>: Mochi")],
        None,
        {},
    )
    hits = MemoryIndex.load(tmp_path).search("Mochi", 3, "lexical")
    assert sorted(h.snippet.session for h in hits) == ["C1:0", "C1:1"]


def test_dense_mode_falls_back_to_lexical_without_embeddings(tmp_path):
    snippets = [
        Snippet("a", "C1", "C1:0", "2026-03-01", 0.0, ["<TARGET>"], "<TARGET>: 酒酿圆子 is my best dish")
    ]
    write_index(tmp_path, snippets, None, {})
    index = MemoryIndex.load(tmp_path)
    assert not index.has_dense
    assert [h.snippet.id for h in index.search("外婆最拿手的是圆子吗", 1, "dense")] == ["a"]


def test_retrieval_settings_reject_unknown_keys_and_modes():
    assert RetrievalSettings.from_dict({"k": 2}).k == 2
    with pytest.raises(ValueError, match="unknown memory settings"):
        RetrievalSettings.from_dict({"top_k": 2})
    with pytest.raises(ValueError, match="choose one of"):
        RetrievalSettings.from_dict({"mode": "magic"})


# ---------------------------------------------------------------------------- what may be remembered


def test_every_message_is_remembered_or_counted_with_a_reason(make_cfg):
    cfg = make_cfg(
        "memory.exclude_chats=['旅行计划']",
        "memory.exclude_speakers=[wxid_aunt_li]",
        "memory.since=2026-03-01",
    )
    kept, left_out = memory.approved(cfg, CHATS, MAPPING)
    assert len(kept) + sum(left_out.values()) == len(CHATS)
    assert left_out == Counter(
        {
            "chat_not_approved": 2,
            "excluded_speaker": 1,
            "mentions_excluded_speaker": 1,
            "kind_not_remembered": 1,
        }
    )


def test_excluded_chats_speakers_and_dates_are_never_retrievable(make_cfg, tmp_path):
    cfg = make_cfg("memory.exclude_chats=['3301@chatroom']", "memory.exclude_speakers=['李阿姨']",
                   "memory.embedder.kind=none")  # fmt: skip
    build = memory.run(cfg, CHATS, MAPPING)
    write_index(tmp_path, build.snippets, None, {})
    index = MemoryIndex.load(tmp_path)
    assert index.search("Guilin October secret plans", 5, "lexical") == []  # chat C2
    texts = " ".join(s.text for s in build.snippets)
    assert "jasmine is blooming" not in texts and "lovely" not in texts  # <U3> said / was named
    assert index.search("Suzhou jasmine", 1, "lexical")[0].snippet.chat == "C3"  # her own words stay
    later = memory.run(make_cfg("memory.until=2026-03-01"), CHATS, MAPPING)
    assert later.snippets == [] and later.report["messages_left_out"] == {"after_until": len(CHATS)}


def test_chats_and_people_are_named_as_the_user_knows_them_and_an_unknown_one_is_an_error(make_cfg):
    """C1 and <U3> are numbered by message count (a new export renumbers them): refused. Names and
    ids resolve through the private mapping; a name that resolves to nothing or to two is an error."""
    kept, _ = memory.approved(make_cfg("memory.include_chats=['花园']"), CHATS, MAPPING)
    assert set(kept["chat"]) == {"C3"}
    with pytest.raises(StageError, match=r"memory\.include_chats: 'C1' is an anonymized number"):
        memory.approved(make_cfg("memory.include_chats=[C1]"), CHATS, MAPPING)
    with pytest.raises(StageError, match=r"memory\.exclude_speakers: '<U3>' is an anonymized number"):
        memory.approved(make_cfg("memory.exclude_speakers=['<U3>']"), CHATS, MAPPING)
    with pytest.raises(StageError, match=r"memory\.exclude_chats: '家人群' matches no chat"):
        memory.approved(make_cfg("memory.exclude_chats=['家人群']"), CHATS, MAPPING)
    with pytest.raises(StageError, match=r"'Aunt Li' names several \(2\)"):
        memory.approved(make_cfg("memory.exclude_speakers=['Aunt Li']"), CHATS, MAPPING)
    with pytest.raises(StageError, match=r"memory\.since = 'March'"):
        memory.approved(make_cfg("memory.since=March"), CHATS, MAPPING)


def test_snippets_hold_no_pii_shaped_text_and_say_why_one_was_dropped(make_cfg):
    build = memory.run(make_cfg(), CHATS, MAPPING)
    assert not [s.text for s in build.snippets if find_pii(s.text)]
    assert build.report["snippets_dropped"]["pii_phone"] == 1
    assert "13812345678" not in json.dumps(build.report)


def test_snippets_stay_inside_one_conversation_and_hide_who_the_others_are(make_cfg):
    build = memory.run(make_cfg(), CHATS, MAPPING)
    c1 = [s for s in build.snippets if s.chat == "C1"]
    assert [s.session for s in c1] == ["C1:0"]  # the session 10 hours later was dropped (PII), not merged
    lines = ["<PERSON>: grandma what are you cooking", "<TARGET>: my cat Mochi is 6 years old now"]
    lines.append("<PERSON>: haha")
    assert c1[0].text == " / ".join(lines)
    c2 = next(s for s in build.snippets if s.chat == "C2")
    assert "<U4>" not in c2.text and c2.speakers == ["<TARGET>", "<U4>"]


@pytest.mark.parametrize(
    ("lengths", "max_messages", "overlap", "max_chars", "expected"),
    [
        ([5] * 10, 4, 1, 1000, [(0, 4), (3, 7), (6, 10)]),
        ([5] * 4, 4, 1, 1000, [(0, 4)]),
        ([5] * 5, 2, 0, 1000, [(0, 2), (2, 4), (4, 5)]),
        ([50, 50, 50], 6, 0, 100, [(0, 1), (1, 2), (2, 3)]),  # the character budget splits
        ([500, 5, 5], 6, 1, 100, [(0, 1), (1, 3)]),  # one long line stands alone
        ([5] * 3, 2, 5, 1000, [(0, 2), (1, 3)]),  # an overlap larger than a chunk still moves on
    ],
)
def test_chunk_boundaries(lengths, max_messages, overlap, max_chars, expected):
    lines = ["x" * n for n in lengths]
    assert memory.chunks(lines, max_messages, overlap, max_chars) == expected


def write_mapping(data_dir):
    (data_dir / "private").mkdir(parents=True, exist_ok=True)
    (data_dir / "private" / "speaker_mapping.json").write_text(json.dumps(MAPPING), encoding="utf-8")


def test_the_stage_writes_a_lexical_index_and_a_report(make_cfg, data_dir):
    src = data_dir / "interim" / "anonymize"
    src.mkdir(parents=True)
    CHATS.to_parquet(src / "messages.parquet")
    write_mapping(data_dir)
    memory_main([f"paths.data={data_dir}", "memory.embedder.kind=none"])
    out = data_dir / "processed" / "memory"
    report = json.loads((out / "report.json").read_text())
    assert report["snippets"] == 3 and report["index"]["dense"] is False
    assert report["chats_included"] == ["C1", "C2", "C3"]
    index = MemoryIndex.load(out / "index")
    assert index.meta["retrieval"]["k"] == 3 and index.search("Mochi", 1, "hybrid")[0].snippet.chat == "C1"


def test_the_stage_embeds_with_the_offline_encoder(make_cfg, data_dir):
    """The default: all-MiniLM-L6-v2 from its wheel, copied into the index for the runtime."""
    src = data_dir / "interim" / "anonymize"
    src.mkdir(parents=True)
    CHATS.to_parquet(src / "messages.parquet")
    write_mapping(data_dir)
    memory_main([f"paths.data={data_dir}"])
    index = MemoryIndex.load(data_dir / "processed" / "memory" / "index")
    assert (
        index.has_dense and index.dense.shape == (index.dense_lines[-1], 384) and len(index.dense_lines) == 4
    )
    np.testing.assert_allclose(np.linalg.norm(index.dense, axis=1), 1.0, atol=1e-2)
    hit = index.search("where did you grow up?", 1, "dense", min_similarity=0.0)[0]
    assert "Suzhou" in hit.snippet.text


def test_a_missing_encoder_folder_says_what_to_do(make_cfg):
    with pytest.raises(StageError, match=r"memory\.embedder\.path = '/nowhere' has no config\.json"):
        memory.embedder_folder(make_cfg("memory.embedder.kind=folder", "memory.embedder.path=/nowhere"))


# ---------------------------------------------------------------------------- into the prompt


def test_query_is_the_last_lines_without_speakers():
    assert (
        query_of("<U1>: hi\n<TARGET>: hello\n<U1>: what's the cat called?", 2)
        == "hello what's the cat called?"
    )


def test_content_text_drops_labels_only():
    assert content_text("<TARGET>: call <PERSON> / <PERSON>: ok: fine") == "call <PERSON>\nok: fine"


def test_memory_block_and_prompt_stay_within_their_token_budgets():
    from tiny_llm import build_tiny_tokenizer

    tok = build_tiny_tokenizer()

    def count(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])

    snippets = [f"2026-03-0{i} <TARGET>: " + "word " * (10 * i) for i in range(1, 6)]
    for budget in (0, 30, 80, 200):
        chosen = fit_memory(snippets, budget, count)
        assert count(format_memory(chosen)) <= budget
        assert chosen == [s for s in snippets if s in chosen]  # rank order kept
    assert fit_memory(snippets, 10_000, count) == snippets
    window = "\n".join(f"<U1>: message number {i}" for i in range(40))
    memory_block = fit_memory(snippets, 200, count)
    assert len(memory_block) >= 2
    prompt = encode_prompt(tok, "You are <TARGET>.", window, memory_block, max_tokens=300)
    assert len(prompt.ids) <= 300 and 0 < prompt.window_lines < 40 and prompt.memory == len(memory_block)
    # No room beside the last line: memory gives way, lowest ranked first, before the prompt fails.
    alone = len(encode_prompt(tok, "You are <TARGET>.", "<U1>: message number 39").ids)
    tight = encode_prompt(tok, "You are <TARGET>.", window, memory_block, max_tokens=alone + 5)
    assert tight.memory == 0 and len(tight.ids) <= alone + 5


def test_auto_keeps_mostly_chinese_memory_lexical_and_english_memory_dense(make_cfg):
    """The wheel's encoder reads English only: embedding Chinese snippets with it would add noise to
    hybrid search, so `auto` leaves such memory to BM25 over character bigrams."""
    from runtime.memory import Snippet

    def snippets(*texts):
        return [
            Snippet(f"s{i}", "C1", "C1:1", "2026-03-01", 0.0, ["<TARGET>"], t) for i, t in enumerate(texts)
        ]

    cfg = make_cfg()
    assert cfg.memory.embedder.kind == "auto"
    chinese = memory.choose_embedder(cfg, snippets("<U1>: 外婆吃饭了吗 / <TARGET>: 吃了吃了，红烧肉 ok"))
    english = memory.choose_embedder(cfg, snippets("<TARGET>: my cat Mochi is 6 years old now 外婆"))
    assert chinese["used"] == "none" and chinese["cjk_share"] > 0.3
    assert english["used"] == "wheel" and english["cjk_share"] < 0.3
    assert memory.choose_embedder(make_cfg("memory.embedder.kind=none"), snippets("外婆"))["used"] == "none"
    with pytest.raises(StageError, match="choose one of"):
        memory.choose_embedder(make_cfg("memory.embedder.kind=bert"), [])
