"""sft_data: anonymized messages -> window/reply examples, split by time, filtered with reasons."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from pipelines import memory
from pipelines.sft_data import run
from pipelines.sft_data.__main__ import dataset_info
from runtime.memory import MemoryIndex, write_index

T0 = pd.Timestamp("2026-03-01 09:00", tz="Asia/Shanghai")
WORDS = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "kiwi", "lemon"]


def table(rows: list[tuple], chat: str = "C1") -> pd.DataFrame:
    """rows: (minutes after T0, speaker, text[, kind])."""
    return pd.DataFrame(
        {
            "chat": chat,
            "is_group": True,
            "msg_id": [f"{chat}-{i}" for i in range(len(rows))],
            "ts": [T0 + pd.Timedelta(minutes=r[0]) for r in rows],
            "speaker": [r[1] for r in rows],
            "is_target": [r[1] == "<TARGET>" for r in rows],
            "kind": [r[3] if len(r) > 3 else "text" for r in rows],
            "text": [r[2] for r in rows],
            "quote_of": "",
            "quote_speaker": "",
        }
    )


def test_each_persona_reply_gets_the_preceding_window(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0", "sft_data.window=2")
    data = run(cfg, table([(0, "<U5>", "hi grandma"), (1, "<U9>", "hello"), (2, "<TARGET>", "aiyo~ hi")]))
    [example] = data.train
    assert example["input"] == "<U1>: hi grandma\n<U2>: hello"
    assert example["output"] == "aiyo~ hi"
    assert example["instruction"] == cfg.sft_data.instruction


def test_global_numbering_keeps_anonymize_placeholders(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0", "sft_data.placeholders=global")
    data = run(cfg, table([(0, "<U5>", "hi"), (1, "<TARGET>", "hello dear")]))
    assert data.train[0]["input"] == "<U5>: hi"


def test_back_to_back_persona_messages_merge_into_one_reply(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0")
    data = run(cfg, table([(0, "<U1>", "hi"), (1, "<TARGET>", "aiyo~"), (2, "<TARGET>", "eat well ok?")]))
    assert [e["output"] for e in data.train] == ["aiyo~\neat well ok?"]


def test_windows_never_cross_a_long_silence(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0", "sft_data.session_gap_minutes=60")
    data = run(
        cfg, table([(0, "<U1>", "night!"), (600, "<U2>", "morning"), (601, "<TARGET>", "morning dear")])
    )
    assert data.train[0]["input"] == "<U1>: morning"


def test_low_signal_replies_are_dropped_and_counted(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0", "sft_data.reply.max_chars=20")
    rows = [
        (0, "<TARGET>", "no context before me"),
        (10, "<U1>", "look"),
        (11, "<TARGET>", "", "sticker"),
        (30, "<U1>", "and?"),
        (31, "<TARGET>", "k"),
        (50, "<U1>", "story time"),
        (51, "<TARGET>", "once upon a time there was a very long reply"),
    ]
    data = run(cfg, table(rows))
    assert data.train == []
    assert data.stats["dropped"] | {} == {
        "too_little_context": 1,
        "non_text_reply": 1,
        "reply_too_short": 1,
        "reply_too_long": 1,
        "duplicate": 0,
        "near_duplicate": 0,
    }


def test_exact_and_near_duplicate_examples_are_dropped(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0", "sft_data.session_gap_minutes=5")
    rows = [(0, "<U1>", "hi"), (1, "<TARGET>", "hello~"), (100, "<U1>", "hi"), (101, "<TARGET>", "hello~")]
    rows += [(200, "<U1>", "Hi!!"), (201, "<TARGET>", "hello~ 2")]
    data = run(cfg, table(rows))
    assert len(data.train) == 1
    assert data.stats["dropped"]["duplicate"] == 1
    assert data.stats["dropped"]["near_duplicate"] == 1


def test_validation_is_the_latest_sessions_of_each_chat(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0.25", "sft_data.session_gap_minutes=30")

    def chat(name: str, who: str) -> pd.DataFrame:
        rows = []
        for s in range(8):
            rows += [
                (s * 100, "<U1>", f"question {WORDS[s]}"),
                (s * 100 + 1, "<TARGET>", f"{who} {WORDS[s]}"),
            ]
        return table(rows, name)

    data = run(cfg, pd.concat([chat("C1", "mom"), chat("C2", "dad")]))
    assert [e["output"] for e in data.val] == ["mom grape", "mom hazel", "dad grape", "dad hazel"]
    assert {e["output"] for e in data.train} == {f"{c} {w}" for c in ("mom", "dad") for w in WORDS[:6]}


def test_sharegpt_conversations_alternate_and_open_with_a_human_turn(make_cfg):
    cfg = make_cfg("sft_data.val_fraction=0")
    rows = [
        (0, "<TARGET>", "morning all"),
        (1, "<U4>", "hi"),
        (2, "<U2>", "hey"),
        (3, "<TARGET>", "hello~"),
        (4, "<U2>", "lunch?"),
        (5, "<TARGET>", "eat well ok?"),
    ]
    [conv] = run(cfg, table(rows)).sharegpt_train
    assert [t["from"] for t in conv["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert conv["conversations"][0]["value"] == "<U1>: hi\n<U2>: hey"


def test_dataset_info_registers_alpaca_and_sharegpt_files_for_llama_factory():
    info = dataset_info(sharegpt=True)
    assert info["still_persona"]["file_name"] == "train.jsonl"
    assert info["still_persona_sharegpt"]["formatting"] == "sharegpt"


def test_entry_point_writes_every_output(data_dir, tmp_path):
    src = data_dir / "interim" / "anonymize"
    src.mkdir(parents=True)
    rows = []
    for s in range(10):
        rows += [
            (s * 300, "<U1>", f"how is the {WORDS[s]}"),
            (s * 300 + 1, "<TARGET>", f"{WORDS[s]} is fine~"),
        ]
    table(rows).to_parquet(src / "messages.parquet")
    cmd = [sys.executable, "-m", "pipelines.sft_data", f"paths.data={data_dir}", "sft_data.memory.fraction=0"]
    subprocess.run(cmd, check=True)
    out = data_dir / "processed" / "sft_data"
    assert {p.name for p in out.iterdir()} == {
        "train.jsonl",
        "val.jsonl",
        "sharegpt_train.json",
        "sharegpt_val.json",
        "dataset_info.json",
        "stats.json",
    }
    stats = json.loads((out / "stats.json").read_text())
    assert stats["examples_train"] + stats["examples_val"] == 10
    assert len((out / "train.jsonl").read_text().splitlines()) == stats["examples_train"]


def test_memory_augmented_examples_never_see_their_own_conversation_or_the_future(make_cfg, tmp_path):
    rows = []
    for s in range(8):  # eight conversations five hours apart, all about Mochi
        rows += [
            (s * 300, "<U1>", f"how are Mochi and the {WORDS[s]}"),
            (s * 300 + 1, "<TARGET>", f"Mochi ate the {WORDS[s]}~"),
        ]
    messages = table(rows)
    cfg = make_cfg("sft_data.val_fraction=0", "sft_data.memory.fraction=1", "sft_data.memory.reply_aware=1",
                   "memory.embedder.kind=none")  # fmt: skip
    write_index(tmp_path, memory.run(cfg, messages, {}).snippets, None, {})
    index = MemoryIndex.load(tmp_path)
    by_id = {s.id: s for s in index.snippets}
    data = run(cfg, messages, index)
    assert len(data.train) == 8 and data.stats["with_memory"]["train"] == 7  # the first has no past
    for ex in data.train:
        found = [by_id[i] for i in ex.get("memory_ids", [])]
        assert all(s.session != ex["session"] and s.ts < ex["ts"] for s in found)
        assert ex.get("memory", []) == [s.prompt_text for s in found]
    assert "Mochi" in data.train[-1]["memory"][0]
    assert not run(make_cfg("sft_data.val_fraction=0", "sft_data.memory.fraction=0"), messages, index).stats[
        "with_memory"
    ]["train"]


def test_entry_point_says_what_to_run_when_input_is_missing(data_dir):
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.sft_data", f"paths.data={data_dir}"], capture_output=True, text=True
    )
    assert r.returncode == 1
    assert "run the anonymize stage first" in r.stderr


@pytest.mark.parametrize("window", [1, 12])
def test_window_length_is_capped(make_cfg, window):
    cfg = make_cfg("sft_data.val_fraction=0", f"sft_data.window={window}", "sft_data.near_duplicate=false")
    rows = [(i, f"<U{i % 3 + 1}>", f"line {i}") for i in range(20)] + [(20, "<TARGET>", "ok ok")]
    assert data_lines(run(cfg, table(rows))) == window


def data_lines(data) -> int:
    return len(data.train[0]["input"].splitlines())
