"""The WeChat transport's logic against a fake WeChat window: baselines, partial renders, repeated texts,
the outbox (verify, retry once, duplicates), health, the circuit breaker and recovery. The real
Windows driver only has to import here and refuse clearly to start."""

from __future__ import annotations

import logging
import random
import sys
import threading
from collections import Counter
from dataclasses import replace

import pytest

from runtime.policy import Kill, Message
from runtime.transports.wechat import (
    SELF,
    SendState,
    UIAutomationWeChat,
    WeChatSettings,
    WeChatTransport,
    WeChatUnavailable,
    clean_read,
    count_new,
)

CHAT = "家人群"
HISTORY = [("小雨", "早"), ("阿明", "吃了吗"), (SELF, "吃了"), ("小雨", "哈哈"), ("阿明", "周末回来吗")]
FAST = WeChatSettings(
    read_interval_s=0, reads_per_poll=10, verify_delay_s=0, trip_after=3, recover_after=3, stale_after_s=1e9
)


class FakeWeChat:
    """A WeChat window: the true log of each chat, a visible tail of `visible` rows, and scripted
    faults (partial renders, late renders, swallowed/lost/double sends, popped-out chats, a window
    that disappears or a tree that cannot be read). It records which thread calls it."""

    def __init__(self, chats: dict[str, list], visible: int = 6):
        self.logs = {chat: list(rows) for chat, rows in chats.items()}
        self.visible = visible
        self.shown: str | None = None
        self.boxes = dict.fromkeys(chats, "")
        self.window = self.logged_in = self.tree = True
        self.popped: set[str] = set()
        self.renders: list[int] = []  # the next reads render only this many rows
        self.sends: list[str] = []  # outcome of the next sends: ok, swallow, lost, double, late
        self.late: dict[str, int] = {}  # reads for which the last row of a chat is not rendered yet
        self.calls: Counter[str] = Counter()
        self.opened: set[str] = set()
        self.threads: set[int] = set()

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        self.threads.add(threading.get_ident())

    def receive(self, chat: str, sender: str, text: str) -> None:
        self.logs[chat].append((sender, text))

    def health(self) -> dict[str, bool]:
        self._call("health")
        return {"window": self.window, "logged_in": self.logged_in, "tree": self.tree}

    def open_chat(self, chat: str) -> bool:
        self._call("open_chat")
        if not (self.window and self.tree) or chat not in self.logs:
            return False
        self.shown = chat
        self.opened.add(chat)
        return True

    def read_messages(self, chat: str):
        self._call("read_messages")
        if not self.tree:
            raise OSError("tree not readable")
        if self.shown != chat:
            return None
        if chat in self.popped:  # the main window shows "opened in a separate window"
            return []
        rows = self.logs[chat]
        if self.late.get(chat):
            self.late[chat] -= 1
            rows = rows[:-1]
        n = self.renders.pop(0) if self.renders else self.visible
        return [tuple(r) for r in rows[-n:]] if n else []

    def type_and_send(self, chat: str, text: str) -> bool:
        self._call("type_and_send")
        mode = self.sends.pop(0) if self.sends else "ok"
        if mode == "swallow":  # Enter did not send (Ctrl+Enter setting): the text stays in the box
            self.boxes[chat] = text
            return True
        self.boxes[chat] = ""
        if mode == "lost":  # typed into nowhere: nothing sent, nothing left
            return True
        self.logs[chat].extend([(SELF, text)] * (2 if mode == "double" else 1))
        if mode == "late":
            self.late[chat] = 2
        return True

    def input_box_empty(self, chat: str) -> bool:
        self._call("input_box_empty")
        return not self.boxes[chat]

    def clear_input(self, chat: str) -> bool:
        self._call("clear_input")
        self.boxes[chat] = ""
        return True


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def make(fake: FakeWeChat, chats=(CHAT,), **changes) -> WeChatTransport:
    return WeChatTransport(list(chats), ui=fake, settings=replace(FAST, **changes), sleep=lambda s: None)


def started(history=HISTORY, **changes):
    """A fake with one chat, a transport on it, and the two polls that take the baseline."""
    fake, clock = FakeWeChat({CHAT: list(history)}), Clock()
    transport = make(fake, **changes)
    assert transport.poll(clock()) == [] and transport.poll(clock()) == []
    assert transport.chats[CHAT].baselined
    return fake, transport, clock


def incoming(events) -> list[tuple[str, str]]:
    return [(e.sender, e.text) for e in events if isinstance(e, Message) and not e.from_persona]


# -- alignment -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "known, read, anchor, new",
    [
        ("abcde", "cde", 3, 0),  # tail already known
        ("abcde", "de", 3, 0),  # partial render
        ("abcde", "bc", 3, 0),  # a stretch inside the log (scrolled up) is never new
        ("abcde", "cdefg", 3, 2),
        ("abcde", "defg", 3, None),  # two anchor rows are too few to place new ones...
        ("abcde", "defg", 2, 2),  # ...unless asked for less
        ("xabch", "abchh", 3, 1),  # a repeated row after its anchor is new
        ("xhhh", "hhh", 1, 0),  # all the same: nothing can be told new (the documented blind spot)
        ("ab", "abc", 3, 1),  # a short log anchors with what it has
        ("abc", "zabc", 3, 0),  # older rows above the known log are history
        ("abc", "xyz", 1, None),  # nothing in common: cannot be placed
        ("abcde", "fg", 3, None),  # only new rows rendered: wait for a read that shows the anchor
        ("abcdefgh", "xyza", 3, None),  # one row matching the log's start is no anchor either
        ("abcdefgh", "cde", 3, 0),  # deep inside the log: scrolled up, nothing new
        ("abc", "", 3, 0),
    ],
)
def test_count_new_aligns_by_content_and_position(known, read, anchor, new):
    assert count_new(list(known), list(read), anchor) == new


def test_clean_read_keeps_the_stretch_after_unrendered_rows():
    rows = [("a", "1"), ("b", ""), ("c", " 2 \r\nx "), (SELF, "3")]
    assert clean_read(rows) == [("c", "2\nx"), (SELF, "3")]


# -- incoming --------------------------------------------------------------------------------------------


def test_baseline_only_after_two_identical_reads_and_history_is_never_new():
    fake, clock = FakeWeChat({CHAT: list(HISTORY)}), Clock()
    transport = make(fake)
    assert transport.poll(clock()) == []
    assert not transport.chats[CHAT].baselined  # one read is not enough
    fake.receive(CHAT, "小雨", "在吗")  # arrives during startup: the reads differ
    assert transport.poll(clock()) == []
    assert not transport.chats[CHAT].baselined
    assert transport.poll(clock()) == []
    assert transport.chats[CHAT].baselined
    for _ in range(5):
        assert transport.poll(clock()) == []  # the history on screen never comes back as new


def test_new_message_is_reported_once_with_a_stable_id():
    fake, transport, clock = started()
    fake.receive(CHAT, "小雨", "回来")
    events = transport.poll(clock())
    assert len(events) == 1
    (msg,) = events
    assert (msg.chat, msg.sender, msg.text, msg.from_persona) == (CHAT, "小雨", "回来", False)
    assert msg.msg_id.startswith("wx-")
    assert transport.poll(clock()) == [] and transport.poll(clock()) == []


def test_partial_renders_do_not_make_old_messages_new():
    fake, transport, clock = started()
    fake.renders = [2, 1, 3, 4]
    for _ in range(6):
        assert transport.poll(clock()) == []
    fake.receive(CHAT, "阿明", "好")
    fake.renders = [1, 1]  # only the new row is rendered: cannot be placed yet, so not reported yet
    assert transport.poll(clock()) == [] and transport.poll(clock()) == []
    assert incoming(transport.poll(clock())) == [("阿明", "好")]  # the full read places it
    assert transport.poll(clock()) == []


def test_repeated_identical_text_is_new_when_it_really_is():
    fake, transport, clock = started()
    ids = set()
    for _ in range(3):
        fake.receive(CHAT, "小雨", "哈哈")  # same sender and text as the last history row
        events = transport.poll(clock())
        assert incoming(events) == [("小雨", "哈哈")]
        ids.add(events[0].msg_id)
    fake.receive(CHAT, "小雨", "哈哈")
    fake.receive(CHAT, "小雨", "哈哈")
    assert incoming(transport.poll(clock())) == [("小雨", "哈哈")] * 2
    assert len(ids) == 3  # the same text at different positions gets different ids


def test_a_burst_wider_than_the_window_rebaselines_and_then_goes_on():
    fake, transport, clock = started()
    for i in range(fake.visible + 2):
        fake.receive(CHAT, "阿明", f"刷屏{i}")
    assert transport.poll(clock()) == []  # no anchor in view: nothing can be placed
    assert transport.poll(clock()) == []  # the same full read again: the anchor is lost
    assert transport.incidents["lost_anchor"] == 1
    fake.receive(CHAT, "小雨", "别刷了")
    assert incoming(transport.poll(clock())) == [("小雨", "别刷了")]


def test_only_whitelisted_chats_are_read_each_at_its_interval():
    fake, clock = FakeWeChat({CHAT: list(HISTORY), "工作群": [("老板", "开会")]}), Clock()
    transport = make(fake, read_interval_s=2.5, reads_per_poll=1)
    for _ in range(10):
        transport.poll(clock())  # one second per poll
    assert fake.opened == {CHAT}
    assert fake.calls["read_messages"] == 4  # at 1001, 1004, 1007, 1010
    assert fake.calls["health"] == 10  # health is checked every poll
    assert transport.send("工作群", "收到", clock()) is False
    assert fake.calls["type_and_send"] == 0


# -- outgoing --------------------------------------------------------------------------------------------


def test_verified_send_is_echoed_once_as_the_persona():
    fake, transport, clock = started()
    assert transport.send(CHAT, "好的", clock()) is True
    assert fake.logs[CHAT][-1] == (SELF, "好的") and fake.calls["type_and_send"] == 1
    assert transport.outbox[-1].state is SendState.VERIFIED
    events = transport.poll(clock())
    assert [(e.sender, e.text, e.from_persona) for e in events] == [("persona", "好的", True)]
    assert incoming(events) == []  # never an incoming message from someone else
    assert transport.poll(clock()) == []
    assert transport.send(CHAT, "好的", clock()) is True  # the same text again is a new message
    assert sum(1 for r in fake.logs[CHAT] if r == (SELF, "好的")) == 2


def test_a_message_arriving_during_a_send_is_still_reported():
    fake, transport, clock = started()
    fake.receive(CHAT, "小雨", "外婆")
    assert transport.send(CHAT, "哎", clock()) is True
    events = transport.poll(clock())
    assert [(e.sender, e.from_persona) for e in events] == [("小雨", False), ("persona", True)]


def test_unsent_text_is_retried_once_then_reported_failed():
    fake, transport, clock = started()
    fake.sends = ["swallow", "swallow"]
    assert transport.send(CHAT, "好的", clock()) is False
    assert fake.calls["type_and_send"] == 2  # one retry, no more
    assert fake.boxes[CHAT] == ""  # no persona text left behind for someone to send
    item = transport.outbox[-1]
    assert (item.state, item.attempts, item.copies, item.reason) == (SendState.FAILED, 2, 0, "not_sent")
    assert transport.incidents["send_retry"] == 1
    assert (SELF, "好的") not in fake.logs[CHAT]


def test_unsent_text_retried_once_can_succeed():
    fake, transport, clock = started()
    fake.sends = ["swallow", "ok"]
    assert transport.send(CHAT, "好的", clock()) is True
    assert fake.logs[CHAT].count((SELF, "好的")) == 1
    assert transport.outbox[-1].attempts == 2


def test_text_gone_without_a_copy_is_not_retried_blindly():
    fake, transport, clock = started()
    fake.sends = ["lost"]
    assert transport.send(CHAT, "好的", clock()) is False
    assert fake.calls["type_and_send"] == 1
    assert transport.outbox[-1].reason == "unverified"


def test_a_late_render_is_not_retried_and_its_echo_comes_later():
    fake, transport, clock = started()
    fake.sends = ["late"]
    assert transport.send(CHAT, "好的", clock()) is False  # not seen: unverified, not sent twice
    assert fake.calls["type_and_send"] == 1
    assert fake.logs[CHAT].count((SELF, "好的")) == 1
    events = transport.poll(clock())
    assert [(e.text, e.from_persona) for e in events] == [("好的", True)]


def test_double_send_is_detected_reported_and_not_retried(caplog):
    fake, transport, clock = started()
    fake.sends = ["double"]
    with caplog.at_level(logging.INFO, logger="still.wechat"):
        assert transport.send(CHAT, "好的呀", clock()) is False
    assert fake.calls["type_and_send"] == 1
    assert transport.incidents["duplicate_send"] == 1
    assert transport.outbox[-1].copies == 2
    assert any(r.levelno == logging.ERROR and "duplicate_send" in r.getMessage() for r in caplog.records)
    assert all("好的呀" not in r.getMessage() for r in caplog.records)  # no message contents in logs
    echoes = [e for e in transport.poll(clock()) if e.from_persona]
    assert len(echoes) == 2 and len({e.msg_id for e in echoes}) == 2  # both copies are in the chat


def test_a_popped_out_chat_is_not_typed_into():
    fake, transport, clock = started()
    fake.popped.add(CHAT)
    assert transport.send(CHAT, "好的", clock()) is False
    assert fake.calls["type_and_send"] == 0
    assert transport.outbox[-1].reason == "chat_not_visible"


def test_someone_typing_in_the_box_blocks_the_send():
    fake, transport, clock = started()
    fake.boxes[CHAT] = "草稿"
    assert transport.send(CHAT, "好的", clock()) is False
    assert fake.calls["type_and_send"] == 0 and fake.boxes[CHAT] == "草稿"


def test_send_before_any_poll_takes_the_baseline_first():
    fake, clock = FakeWeChat({CHAT: list(HISTORY)}), Clock()
    transport = make(fake)
    assert transport.send(CHAT, "好的", clock()) is True
    assert [(e.text, e.from_persona) for e in transport.poll(clock())] == [("好的", True)]


# -- health and the circuit breaker ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["tree", "window", "logged_in"])
def test_unhealthy_ui_opens_the_breaker_with_one_kill_and_no_sends(fault, caplog):
    fake, transport, clock = started()
    setattr(fake, fault, False)
    with caplog.at_level(logging.WARNING, logger="still.wechat"):
        events = [transport.poll(clock()) for _ in range(8)]
    kills = [(i, e) for i, batch in enumerate(events) for e in batch if isinstance(e, Kill)]
    assert [(i, e.source) for i, e in kills] == [(2, "wechat_unhealthy")]  # on the 3rd failing poll, once
    assert transport.breaker_open
    assert any("circuit_open" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert transport.send(CHAT, "好的", clock()) is False
    assert fake.calls["type_and_send"] == 0
    assert transport.outbox[-1].reason == "circuit_open"


def test_recovery_needs_a_healthy_streak():
    fake, transport, clock = started()
    fake.tree = False
    for _ in range(3):
        transport.poll(clock())
    assert transport.breaker_open
    fake.tree = True
    transport.poll(clock()), transport.poll(clock())
    fake.tree = False  # a relapse restarts the streak
    transport.poll(clock())
    fake.tree = True
    transport.poll(clock()), transport.poll(clock())
    assert transport.breaker_open
    assert transport.poll(clock()) == []
    assert not transport.breaker_open  # three healthy polls in a row
    fake.receive(CHAT, "小雨", "好了吗")
    assert incoming(transport.poll(clock())) == [("小雨", "好了吗")]  # what came meanwhile is found
    assert transport.send(CHAT, "好了", clock()) is True
    fake.window = False  # a new trip emits a new Kill
    kills = [e for _ in range(3) for e in transport.poll(clock()) if isinstance(e, Kill)]
    assert len(kills) == 1


def test_transient_failures_below_the_threshold_do_not_trip():
    fake, transport, clock = started()
    for _ in range(4):
        fake.tree = False
        transport.poll(clock()), transport.poll(clock())
        fake.tree = True
        transport.poll(clock())
    assert not transport.breaker_open and transport.incidents["circuit_open"] == 0


def test_repeated_unverified_sends_open_the_breaker():
    fake, transport, clock = started()
    fake.sends = ["lost"] * 3
    assert not any(transport.send(CHAT, f"好{i}", clock()) for i in range(3))
    assert transport.breaker_open
    assert [e.source for e in transport.poll(clock()) if isinstance(e, Kill)] == ["wechat_unhealthy"]


def test_all_ui_calls_stay_on_one_thread():
    fake, transport, clock = started()
    errors = []

    def other():
        try:
            transport.poll(clock())
        except RuntimeError as e:
            errors.append(str(e))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert errors and "thread" in errors[0]
    assert fake.threads == {threading.get_ident()}


# -- soak: random traffic and faults, every real message found exactly once -------------------------------


def soak(seed: int, visible: int, steps: int = 150):
    """Random traffic (few distinct texts, so repeats are common), partial renders and send faults;
    returns what the transport reported from others, what really arrived, and the transport."""
    rng = random.Random(seed)
    history = [("小雨", "早"), ("阿明", "早")] * 3
    fake, transport, clock = started(history=history, trip_after_send_failures=1000)
    fake.visible = visible
    expected, events, sends = [], [], Counter()
    for _ in range(steps):
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            row = (rng.choice(["小雨", "阿明", "外公"]), rng.choice(["哈哈", "好", "吃饭了", "[图片]"]))
            fake.receive(CHAT, *row)
            expected.append(row)
        if rng.random() < 0.3:
            fake.renders = [rng.randint(1, visible) for _ in range(rng.randint(1, 2))]
        events += transport.poll(clock())
        if rng.random() < 0.2:
            fake.renders = []
            mode = rng.choice(["ok"] * 8 + ["swallow", "double", "late"])
            fake.sends = [mode]
            before = fake.calls["type_and_send"]
            ok = transport.send(CHAT, rng.choice(["好的", "哈哈"]), clock())
            if transport.outbox[-1].reason == "not_synced":  # after a burst: wait, never type blind
                assert not ok and fake.calls["type_and_send"] == before
                continue
            assert ok == (mode in ("ok", "swallow")), mode
            assert fake.calls["type_and_send"] - before == (2 if mode == "swallow" else 1)
            sends[mode] += 1
    fake.renders = []
    for _ in range(3):
        events += transport.poll(clock())
    assert len({e.msg_id for e in events}) == len(events)  # no message reported twice
    own = sum(1 for r in fake.logs[CHAT][len(history) :] if r[0] == SELF)
    assert own == sends.total() + sends["double"]  # the transport itself never added a copy
    assert transport.incidents["duplicate_send"] == sends["double"]
    return incoming(events), expected, transport


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_soak_every_message_found_once_when_the_window_keeps_up(seed):
    found, expected, transport = soak(seed, visible=12)
    assert found == expected  # every message from others, once, in order; no history
    assert transport.incidents["lost_anchor"] == 0 and not transport.breaker_open


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_soak_a_narrow_window_may_lose_bursts_but_never_invents_or_repeats(seed):
    found, expected, transport = soak(seed, visible=6)
    assert transport.incidents["lost_anchor"] > 0  # bursts outran the window: messages were skipped
    rest = iter(expected)
    assert found and all(row in rest for row in found)  # an ordered subsequence of what arrived


# -- through the real chat loop and reply policy ----------------------------------------------------------


def test_chat_loop_replies_once_to_a_new_message_and_stops_when_wechat_breaks():
    from runtime.chat import DecisionLog, SimClock, run_loop
    from runtime.generator import Reply
    from runtime.policy import PolicyConfig, ReplyPolicy

    class Echo:  # a generator that always says the same
        def reply(self, context, seed=0):
            return Reply("在呢", "在呢", prompt_tokens=0, window_lines=1)

    fake = FakeWeChat({CHAT: list(HISTORY)})
    transport = make(fake)
    config = PolicyConfig(whitelist=(CHAT,), debounce_s=1.0, jitter_s=(0.0, 0.1), follow_up_probability=0.0,
                          quiet_hours=None, disclosure=False)  # fmt: skip
    policy, clock, decisions = ReplyPolicy(config, random.Random(0)), SimClock(1_767_225_600.0), DecisionLog()
    run_loop(policy, Echo(), transport, clock, decisions, until=clock.now() + 5)
    assert decisions.counts.get("sent:reply") is None  # history on screen is never answered
    fake.receive(CHAT, "小雨", "外婆在吗")
    run_loop(policy, Echo(), transport, clock, decisions, until=clock.now() + 5)
    assert decisions.counts["sent:reply"] == 1
    assert decisions.counts["skip:own_message"] == 1  # its echo is known as the persona's own
    assert fake.logs[CHAT][-2:] == [("小雨", "外婆在吗"), (SELF, "在呢")]
    fake.tree = False
    fake.receive(CHAT, "阿明", "外婆?")
    run_loop(policy, Echo(), transport, clock, decisions, until=clock.now() + 5)
    assert decisions.counts["stop:wechat_unhealthy"] == 1 and policy.killed
    assert fake.calls["type_and_send"] == 1


# -- the real driver -------------------------------------------------------------------------------------


def test_module_imports_anywhere_and_the_real_driver_refuses_off_windows(monkeypatch):
    import runtime.transports.wechat as wechat

    assert wechat.WeChatTransport.name == "wechat"
    if sys.platform != "win32":
        with pytest.raises(WeChatUnavailable, match="only on Windows"):
            UIAutomationWeChat()
        with pytest.raises(WeChatUnavailable, match="only on Windows"):
            WeChatTransport(chats=[CHAT])  # what `--transport wechat` builds
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "uiautomation", None)  # not installed
    with pytest.raises(WeChatUnavailable, match="pip install uiautomation"):
        UIAutomationWeChat()


def test_no_chat_to_watch_is_a_clear_error():
    with pytest.raises(ValueError, match="--allow-chat"):
        WeChatTransport(chats=[], ui=FakeWeChat({}))
