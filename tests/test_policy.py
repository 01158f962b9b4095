"""The reply policy: when the persona speaks, and the promises it keeps for any sequence of events."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.policy import Kill, Message, PolicyConfig, ReplyPolicy, Resume, Tick, violations

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC = 08:00 in China: outside quiet hours
FAMILY, OTHER = "family", "strangers"


def policy(**overrides) -> ReplyPolicy:
    settings_ = {"whitelist": [FAMILY], "owner_ids": ["owner"], **overrides}
    return ReplyPolicy(PolicyConfig.from_dict(settings_), random.Random(1))


def msg(t: float, text: str = "hi", sender: str = "xiaoyu", chat: str = FAMILY) -> Message:
    return Message(chat, sender, text, T0 + t)


def due_at(p: ReplyPolicy, t: float):
    p.observe(Tick(T0 + t))
    return p.due(T0 + t)


def send(p: ReplyPolicy, request, text: str, t: float) -> bool:
    ok, _ = p.approve(request, text, T0 + t)
    if ok:
        p.sent(request, text, T0 + t)
    return ok


# ---- behaviour, by example ----


def test_a_burst_gets_one_reply_after_it_ends_plus_jitter():
    p = policy()
    for t in (0, 1, 2, 2.5):
        p.observe(msg(t))
    assert due_at(p, 5.4) == []  # 2.5 + 3 s debounce + at least 0.5 s jitter
    requests = due_at(p, 2.5 + 3 + 2.5)
    assert len(requests) == 1 and requests[0].kind == "reply"
    assert [m.text for m in requests[0].context] == ["hi"] * 4
    assert due_at(p, 20) == []  # one reply per burst


def test_context_is_the_last_twelve_messages():
    p = policy()
    for i in range(20):
        p.observe(msg(i * 0.1, f"m{i}"))
    (request,) = due_at(p, 10)
    assert [m.text for m in request.context] == [f"m{i}" for i in range(8, 20)]


def test_follow_ups_after_cold_silence_stop_at_four_persona_messages_in_a_row():
    p = policy(rate_per_chat=[100, 60.0], rate_global=[100, 60.0])
    p.observe(msg(0))
    t, kinds = 10.0, []
    while t < 200:
        for r in due_at(p, t):
            assert send(p, r, f"reply {len(kinds)}", t)
            kinds.append(r.kind)
        t += 0.5
    assert kinds == ["reply", "follow_up", "follow_up", "follow_up"]
    p.observe(msg(300))  # someone speaks: the count starts again
    assert [r.kind for r in due_at(p, 310)] == ["reply"]


def test_a_reply_written_while_someone_spoke_again_is_stale():
    p = policy()
    p.observe(msg(0))
    (request,) = due_at(p, 6)
    p.observe(msg(6.5, "wait, one more thing"))
    assert p.approve(request, "ok", T0 + 7) == (False, "stale")


def test_the_same_text_is_never_sent_twice_in_a_chat():
    p = policy()
    p.observe(msg(0))
    (r1,) = due_at(p, 6)
    assert send(p, r1, "ok ~ 🌻", 6)
    p.observe(msg(100))
    (r2,) = due_at(p, 106)
    assert p.approve(r2, "ok  ~ 🌻", T0 + 106) == (False, "duplicate")


def test_rate_limit_per_chat():
    p = policy(rate_per_chat=[2, 60.0], max_consecutive_self=10, follow_up_probability=0.0)
    sent = 0
    for i in range(4):
        p.observe(msg(i * 10))
        for r in due_at(p, i * 10 + 6):
            sent += send(p, r, f"reply {i}", i * 10 + 6)
    assert sent == 2
    assert any(d.reason == "reply:rate_limited" for d in p.take_decisions())


def test_nothing_is_sent_in_quiet_hours():
    p = policy(quiet_hours=[23, 7])
    night = 16 * 3600  # 00:00 in China
    p.observe(msg(night))
    assert due_at(p, night + 6) == []
    assert [d.reason for d in p.take_decisions()] == ["reply:quiet_hours"]


def test_chats_outside_the_whitelist_get_nothing():
    p = policy()
    assert p.observe(msg(0, chat=OTHER))[0].reason == "not_whitelisted"
    assert due_at(p, 10) == []


def test_the_owner_stops_and_resumes_and_nobody_else_can():
    p = policy()
    p.observe(msg(0, "/still stop", sender="xiaoyu"))  # not the owner: just a message
    assert p.killed is False
    p.observe(msg(1, "/still stop", sender="owner"))
    p.observe(msg(2, "hello?"))
    assert due_at(p, 10) == []
    p.observe(msg(11, "/still resume", sender="owner"))
    p.observe(msg(12, "hello again"))
    assert len(due_at(p, 20)) == 1


def test_a_kill_between_generation_and_sending_wins():
    p = policy()
    p.observe(msg(0))
    (request,) = due_at(p, 6)
    p.observe(Kill(T0 + 6.1, "file"))
    assert p.approve(request, "ok", T0 + 6.2) == (False, "killed")


def test_disclosure_on_the_first_persona_message_of_each_session():
    p = policy(session_gap_s=1800.0)
    p.observe(msg(0))
    (r,) = due_at(p, 6)
    assert r.disclose and send(p, r, "ok", 6)
    p.observe(msg(60))
    (r,) = due_at(p, 66)
    assert not r.disclose and send(p, r, "ok then", 66)
    p.observe(msg(4000))  # after an hour of silence: a new session
    (r,) = due_at(p, 4006)
    assert r.disclose


def test_our_own_messages_echoing_back_never_trigger_a_reply():
    p = policy(follow_up_probability=0.0)
    p.observe(msg(0))
    (r,) = due_at(p, 6)
    send(p, r, "ok ~ 🌻", 6)
    decisions = p.observe(Message(FAMILY, "me", "ok ~ 🌻", T0 + 6.3, from_persona=True))
    assert decisions[0].reason == "own_message"
    assert due_at(p, 60) == []


def test_unknown_policy_settings_are_rejected():
    with pytest.raises(ValueError, match=r"unknown policy settings.*debounse"):
        PolicyConfig.from_dict({"debounse_s": 3})


# ---- invariants, for any event sequence ----

CHATS = st.sampled_from([FAMILY, "cousins", OTHER])
SENDERS = st.sampled_from(["xiaoyu", "jianguo", "owner"])
TEXTS = st.sampled_from(["hi", "吃饭了吗", "/still stop", "/still resume", "ok", "哈哈"])
STEP = st.one_of(
    st.tuples(st.just("msg"), st.floats(0, 40), CHATS, SENDERS, TEXTS),
    st.tuples(st.just("kill"), st.floats(0, 40)),
    st.tuples(st.just("resume"), st.floats(0, 40)),
    st.tuples(st.just("wait"), st.floats(0, 300)),
)
REPLIES = st.lists(st.sampled_from(["ok ~ 🌻", "好的", "aiyo", "", "吃了"]), min_size=1, max_size=8)


def drive(steps, replies, config: PolicyConfig):
    """A chat loop over `steps` (gaps in seconds), ticking every 0.25 s; returns the timeline."""
    p = ReplyPolicy(config, random.Random(0))
    timeline, t, n = [], T0, 0  # (kind, t, chat, sender-or-text)
    for step in steps:
        target = t + step[1]
        while t < target:  # time passes in ticks, replies go out when due
            t = min(target, t + 0.25)
            p.observe(Tick(t))
            for r in p.due(t):
                text = replies[n % len(replies)]
                n += 1
                ok, _ = p.approve(r, text, t)
                if ok:
                    p.sent(r, text, t)
                    timeline.append(("sent", t, r.chat, "me", text))
                    p.observe(Message(r.chat, "me", text, t + 0.1, from_persona=True))  # the echo
        if step[0] == "msg":
            _, _, chat, sender, text = step
            p.observe(Message(chat, sender, text, t))
            timeline.append(("msg", t, chat, sender, text))
        elif step[0] in ("kill", "resume"):
            p.observe((Kill if step[0] == "kill" else Resume)(t, "test"))
            timeline.append((step[0], t, "*", "", ""))
    return timeline


CONFIG = PolicyConfig(whitelist=(FAMILY, "cousins"), owner_ids=("owner",), quiet_hours=None)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=40), REPLIES)
def test_invariants_hold_for_any_event_sequence(steps, replies):
    """Whitelist, kill switch, bursts, the consecutive cap, duplicates, rate limits, quiet hours,
    never unprompted: `violations` checks each on the record of what happened."""
    assert violations(drive(steps, replies, CONFIG), CONFIG) == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(STEP, max_size=30), REPLIES, st.integers(0, 23))
def test_never_sends_in_quiet_hours(steps, replies, start_hour):
    config = PolicyConfig(whitelist=(FAMILY,), quiet_hours=(start_hour, (start_hour + 6) % 24))
    assert violations(drive(steps, replies, config), config) == []


def test_violations_names_each_broken_promise():
    c = PolicyConfig(whitelist=(FAMILY,), quiet_hours=None, max_consecutive_self=1)
    record = [
        ("msg", T0, FAMILY, "xiaoyu", "hi"),
        ("sent", T0 + 1, FAMILY, "", "ok"),  # burst: 1 s after a message
        ("sent", T0 + 20, FAMILY, "", "ok"),  # second in a row (cap 1), same text
        ("sent", T0 + 30, OTHER, "", "hey"),  # not whitelisted, unprompted
        ("kill", T0 + 40, "*", "", ""),
        ("msg", T0 + 41, FAMILY, "xiaoyu", "?"),
        ("sent", T0 + 50, FAMILY, "", ""),  # after the kill, empty
    ]
    found = " | ".join(violations(record, c))
    for promise in ("during a burst", "consecutive-message cap", "same text twice", "outside the whitelist",
                    "unprompted", "after the kill switch", "empty message"):  # fmt: skip
        assert promise in found
