"""`python -m runtime chat`: live names become placeholders and back, replays run through the real
policy and generator on a simulated clock, and the console answers what you type."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from tiny_llm import build_tiny_llm

from runtime.__main__ import main
from runtime.bundle import CHAT_MODEL, MEMORY, MODEL_INFO, POLICY, open_bundle, write_manifest
from runtime.chat import DecisionLog, SimClock, run_loop
from runtime.generator import Generator, Reply, to_live, to_window
from runtime.memory import Snippet, write_index
from runtime.policy import PolicyConfig, ReplyPolicy
from runtime.prompt import format_memory
from runtime.transports.replay import ReplayTransport
from tests.signing_key import TEST_KEY

T0 = 1_767_225_600  # 2026-01-01 08:00 in China


@dataclass
class Line:
    sender: str
    text: str
    from_persona: bool = False


def test_live_names_become_the_training_placeholders():
    window = to_window(
        [Line("小雨", "外婆 我电话13812345678"), Line("Tom Lin", "小雨 you there?"), Line("me", "在呢", True)]
    )
    assert window.text == "<U1>: 外婆 我电话<PHONE>\n<U2>: <U1> you there?\n<TARGET>: 在呢"
    assert window.names == {"<U1>": "小雨", "<U2>": "Tom Lin"}


def test_replies_map_placeholders_back_and_drop_invented_pii():
    names = {"<U1>": "小雨"}
    assert to_live("<TARGET>: <U1> 早点睡 ~ 🌻", names) == "小雨 早点睡 ~ 🌻"
    assert to_live("call me 13912345678 <PHONE> ok", names) == "call me ok"
    assert to_live("ok rest well\n<U2>: night", names) == "ok rest well"  # an invented next turn is cut
    assert to_live("<U7> <ADDRESS>", names) == ""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dist") / "demo"
    model = build_tiny_llm(root / CHAT_MODEL)
    info = {"instruction": "You are <TARGET>.", "max_prompt_tokens": 256, "prompt_format_version": 1,
            "placeholders": "per_window", "context_messages": 12}  # fmt: skip
    (model / MODEL_INFO).write_text(json.dumps(info))
    gen = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(
        json.dumps({**gen, "do_sample": True, "max_new_tokens": 12})
    )
    policy = {"debounce_s": 1.0, "jitter_s": [0.0, 0.2], "follow_up_probability": 0.0, "quiet_hours": None,
              "context_messages": 12}  # fmt: skip
    (root / POLICY).write_text(json.dumps(policy))
    said = {"C1-0-0": "<TARGET>: my cat Mochi is 6 years old", "C1-1-0": "<TARGET>: 我最拿手的是酒酿圆子"}
    snippets = [
        Snippet(i, "C1", i[:4].replace("-", ":"), "2026-03-08", T0 - 9e6, ["<TARGET>"], t)
        for i, t in said.items()
    ]
    retrieval = {"k": 2, "max_tokens": 60, "mode": "hybrid"}
    write_index(root / MEMORY, snippets, None, {"retrieval": retrieval})
    components = {"chat_model": {"path": CHAT_MODEL}, "policy": {"path": POLICY},
                  "memory": {"path": MEMORY, "retrieval": retrieval}}  # fmt: skip
    write_manifest(
        root, {"name": "demo", "created": "now", "consent": {}, "components": components}, TEST_KEY
    )
    return root


def test_replay_sends_only_where_and_when_the_policy_allows(bundle, tmp_path, capsys):
    log = tmp_path / "chat.jsonl"
    rows = [
        {"ts": T0, "chat": "family", "sender": "小雨", "text": "外婆 吃饭了吗"},
        {"ts": T0 + 1, "chat": "family", "sender": "小雨", "text": "我今天考试第一名"},
        {"ts": T0 + 2, "chat": "work", "sender": "boss", "text": "report?"},
        {"ts": T0 + 100, "chat": "family", "sender": "建国", "text": "妈 周末回来"},
        {"ts": T0 + 200, "kill": True},
        {"ts": T0 + 300, "chat": "family", "sender": "小雨", "text": "外婆?"},
    ]
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out, decisions = tmp_path / "sent.jsonl", tmp_path / "decisions.jsonl"
    args = ["chat", "--bundle", str(bundle), "--transport", "replay", "--log", str(log), "--out", str(out),
            "--allow-chat", "family", "--decisions", str(decisions)]  # fmt: skip
    assert main(args) == 0
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    assert sent and {s["chat"] for s in sent} == {"family"}
    assert all(s["ts"] < T0 + 200 for s in sent)  # nothing after the kill
    assert min(s["ts"] for s in sent) >= T0 + 1 + 1.0  # after the burst, plus debounce
    assert sent[0]["text"].startswith("（AI 纪念助手")  # disclosure first
    log_text = decisions.read_text(encoding="utf-8")
    assert "not_whitelisted" in log_text and '"stop"' in log_text
    assert "吃饭" not in log_text and "text" not in log_text  # no contents without --debug


def replay_decisions(bundle, tmp_path, *extra: str) -> list[dict]:
    log = tmp_path / "chat.jsonl"
    rows = [{"ts": T0, "chat": "family", "sender": "小雨", "text": "外婆 your cat Mochi is so cute"}]
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    decisions = tmp_path / f"decisions{len(list(tmp_path.glob('decisions*')))}.jsonl"  # the log appends
    args = ["chat", "--bundle", str(bundle), "--transport", "replay", "--log", str(log),
            "--decisions", str(decisions), *extra]  # fmt: skip
    assert main(args) == 0
    return [json.loads(line) for line in decisions.read_text().splitlines()]


def test_replies_are_grounded_on_memory_and_the_snippets_are_logged(bundle, tmp_path):
    sent = [d for d in replay_decisions(bundle, tmp_path) if d["action"] in ("sent", "dropped")]
    assert sent and sent[0]["memory"] == ["C1-0-0"]  # only the snippet that shares words with the chat
    off = [d for d in replay_decisions(bundle, tmp_path, "--no-memory") if d["action"] in ("sent", "dropped")]
    assert off and off[0]["memory"] == []


def test_the_memory_block_stays_within_the_bundle_budget(bundle):
    generator = Generator(open_bundle(bundle), device="cpu", memory={"max_tokens": 25})
    texts, ids = generator.recall("<U1>: Mochi and 酒酿圆子 and the cat")
    count = len(generator.tokenizer(format_memory(texts), add_special_tokens=False)["input_ids"])
    assert count <= 25 and len(ids) == len(texts) < 2
    roomy = Generator(open_bundle(bundle), device="cpu", memory={"max_tokens": 400})
    assert sorted(roomy.recall("<U1>: Mochi and 酒酿圆子 and the cat")[1]) == ["C1-0-0", "C1-1-0"]
    assert Generator(open_bundle(bundle), device="cpu", memory={"enabled": False}).memory is None


def test_console_answers_typed_messages(bundle, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("小雨: 外婆 吃饭了吗\n"))
    monkeypatch.setattr("runtime.chat.TICK_S", 0.05)
    assert main(["chat", "--bundle", str(bundle), "--no-disclosure"]) == 0
    out = capsys.readouterr().out
    assert "It is not the person." in out
    assert out.count("persona> ") >= 1


def test_chat_refuses_a_tampered_bundle(bundle, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / POLICY).write_text(json.dumps({"debounce_s": 0}))
    assert main(["chat", "--bundle", str(copy)]) == 1
    assert "policy.json: changed" in capsys.readouterr().err


class SlowGenerator:
    """Takes `seconds` of (simulated) time to write each reply; `during` runs while it writes."""

    def __init__(self, clock, seconds: float, during=lambda: None):
        self.clock, self.seconds, self.during = clock, seconds, during

    def reply(self, context, seed):
        self.clock.sleep(self.seconds)
        self.during()
        return Reply(f"ok {seed}", f"ok {seed}", 10, len(context))


def loop_over(rows, generator_for, kill_file=None):
    transport, clock = ReplayTransport(rows), SimClock(rows[0]["ts"])
    config = PolicyConfig(whitelist=("family",), quiet_hours=None, follow_up_probability=0.0)
    log = DecisionLog(io.StringIO())
    run_loop(ReplyPolicy(config), generator_for(clock), transport, clock, log, kill_file)
    return transport.sent, log.stream.getvalue()


def test_a_message_arriving_while_the_model_writes_makes_the_reply_stale():
    rows = [{"ts": T0, "chat": "family", "sender": "小雨", "text": "吃了吗"},
            {"ts": T0 + 7, "chat": "family", "sender": "小雨", "text": "外婆?"}]  # fmt: skip
    sent, log = loop_over(rows, lambda clock: SlowGenerator(clock, seconds=4))
    assert '"reason": "stale"' in log
    assert len(sent) == 1 and sent[0]["ts"] > T0 + 7  # only the answer to the latest message


def test_the_kill_file_stops_a_reply_already_being_written(tmp_path):
    stop = tmp_path / "STOP"
    rows = [{"ts": T0, "chat": "family", "sender": "小雨", "text": "吃了吗"}]
    sent, log = loop_over(rows, lambda clock: SlowGenerator(clock, 2, during=stop.touch), kill_file=stop)
    assert sent == [] and '"reason": "killed"' in log


# ---- a Chinese Windows console (cp936) -----------------------------------------------------------
def cp936_stream(data: bytes = b"") -> io.TextIOWrapper:
    """A piped standard stream as Python opens it under code page 936 (PYTHONIOENCODING=cp936)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="cp936")


def drain(transport, polls: int = 200) -> list:
    import time

    events = []
    for _ in range(polls):
        events += transport.poll(0.0)
        if transport.finished(0.0):
            return events
        time.sleep(0.01)
    raise AssertionError("the console never signalled the end of its input")


def test_utf8_piped_into_a_cp936_console_reads_as_written_and_bad_bytes_do_not_stop_it():
    from runtime.console_io import safe_stream
    from runtime.transports.console import ConsoleTransport

    stdin = cp936_stream("小雨: 外婆 吃饭了吗\n".encode() + b"\xff\xfe oops\n" + "还在吗\n".encode())
    safe_stream(stdin)
    events = drain(ConsoleTransport(stdin=stdin, stdout=io.StringIO()))
    assert [(e.sender, e.text) for e in events] == [
        ("小雨", "外婆 吃饭了吗"),
        ("小雨", "\ufffd\ufffd oops"),
        ("小雨", "还在吗"),
    ]


def test_a_console_whose_input_cannot_be_decoded_still_ends():
    from runtime.transports.console import ConsoleTransport

    stdin = cp936_stream(b"\x81\x20\xff\xff\xff\n")  # not GBK, and nobody reconfigured the stream
    assert drain(ConsoleTransport(stdin=stdin, stdout=io.StringIO())) == []


def test_an_emoji_reply_prints_on_a_cp936_console():
    from runtime.console_io import safe_stream
    from runtime.transports.console import ConsoleTransport

    stdout = cp936_stream()
    safe_stream(stdout)
    ConsoleTransport(stdin=io.StringIO(""), stdout=stdout).send("console", "好的 🌻", 0.0)
    stdout.flush()
    assert "persona> 好的 🌻" in stdout.buffer.getvalue().decode("utf-8")


def test_the_chat_model_loads_in_the_dtype_it_was_saved_in_within_doctors_estimate(tmp_path):
    """A bf16 model is served in bf16: its parameters take the bytes of the weights file that
    doctor's estimate starts from (a float32 load would take twice that)."""
    import os

    import psutil
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from runtime.doctor import needed_memory
    from runtime.engines import load_chat_model

    config = LlamaConfig(vocab_size=512, hidden_size=512, intermediate_size=2048, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=4)  # fmt: skip
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(tmp_path / "m")
    weights = sum(p.stat().st_size for p in (tmp_path / "m").glob("*.safetensors"))
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss
    model = load_chat_model(tmp_path / "m")
    grown = process.memory_info().rss - before
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert model.dtype == torch.bfloat16 and abs(params - weights) < 0.01 * weights
    assert grown < needed_memory(weights), (grown, needed_memory(weights))
