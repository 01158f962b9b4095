"""When the persona speaks: the reply policy, pure logic on an injected clock.

The reference system's behaviour, made exact: only whitelisted chats; the last 12 messages as
context; wait until a burst of messages ends (debounce) plus a random jitter; after the persona's
own message, a cold-silence follow-up after 8 s, at most 4 persona messages in a row. Added: rate
limits per chat and overall, quiet hours, a kill switch, no duplicate sends, an AI disclosure at the
start of each session. Nothing here reads a clock: every event carries its time.

A chat loop drives it (runtime/chat.py):

    policy.observe(event)                 # Message / Tick / Kill / Resume -> decisions for the log
    for request in policy.due(now):       # replies and follow-ups whose time has come
        text = generate(request.context)
        ok, why = policy.approve(request, text, now)    # the last gate, right before sending
        if ok and transport.send(...): policy.sent(request, text, now)

Standard library only (ships in the Windows runtime).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field, fields
from itertools import count

# ---- events and decisions ----


@dataclass(frozen=True, slots=True)
class Message:
    chat: str
    sender: str
    text: str
    ts: float  # unix seconds
    from_persona: bool = False  # sent by the persona's account (our own sends echo back like this)
    msg_id: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    ts: float


@dataclass(frozen=True, slots=True)
class Kill:
    ts: float
    source: str  # "file", "console", "owner", "wechat_unhealthy", …


@dataclass(frozen=True, slots=True)
class Resume:
    ts: float
    source: str


@dataclass(frozen=True, slots=True)
class Decision:
    """One line of the decision log. Never holds message text."""

    ts: float
    chat: str
    action: str  # "wait" | "skip" | "stop" | "resume"
    reason: str  # "debounce", "burst", "not_whitelisted", "own_message", "owner_command", …


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    request_id: int
    chat: str
    kind: str  # "reply" | "follow_up"
    context: tuple[Message, ...]  # the last `context_messages` messages, oldest first
    disclose: bool  # prepend the AI disclosure (first persona message of this session)
    made_at: float
    after_seq: int  # the chat's incoming-message count when the request was made (staleness check)


# ---- configuration ----


@dataclass(frozen=True)
class PolicyConfig:
    whitelist: tuple[str, ...] = ()  # chats the persona may speak in; empty: nowhere
    context_messages: int = 12
    debounce_s: float = 3.0  # quiet time after the last incoming message before replying
    jitter_s: tuple[float, float] = (0.5, 2.5)  # random extra wait, drawn per reply
    follow_up_after_s: float = 8.0  # cold silence after the persona's message before a follow-up
    follow_up_probability: float = 1.0
    max_consecutive_self: int = 4  # persona messages in a row before someone else must speak
    rate_per_chat: tuple[int, float] = (3, 60.0)  # at most N sends per window seconds
    rate_global: tuple[int, float] = (10, 60.0)
    quiet_hours: tuple[int, int] | None = (23, 7)  # local [start, end) hours with no sending
    utc_offset_hours: float = 8.0  # local time for quiet hours (China Standard Time)
    duplicate_window: int = 50  # never repeat any of the last N texts sent in a chat
    owner_ids: tuple[str, ...] = ()  # senders whose stop/resume commands are obeyed
    owner_stop_command: str = "/still stop"
    owner_resume_command: str = "/still resume"
    disclosure: bool = True
    disclosure_text: str = "（AI 纪念助手，并非本人）"
    disclosure_chats: tuple[str, ...] = ()  # chats where the disclosure is off (opt-out per chat)
    session_gap_s: float = 1800.0  # silence that starts a new session (disclosure due again)

    @classmethod
    def from_dict(cls, settings: dict) -> PolicyConfig:
        """From the bundle's policy.json (lists become tuples). Unknown keys are an error: a typo
        must not silently fall back to a default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown policy settings {unknown}; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        lo, hi = self.jitter_s
        if not 0 <= lo <= hi:
            raise ValueError(f"jitter_s must be 0 <= low <= high, not {self.jitter_s}")
        if self.context_messages < 1 or self.max_consecutive_self < 1 or self.duplicate_window < 1:
            raise ValueError("context_messages, max_consecutive_self and duplicate_window must be >= 1")
        if self.rate_per_chat[0] < 1 or self.rate_global[0] < 1:
            raise ValueError("rate limits must allow at least one message per window")
        if self.quiet_hours is not None and not all(0 <= h <= 23 for h in self.quiet_hours):
            raise ValueError(f"quiet_hours must be two hours 0-23, not {self.quiet_hours}")

    def in_quiet_hours(self, ts: float) -> bool:
        if self.quiet_hours is None:
            return False
        hour = int(((ts + self.utc_offset_hours * 3600) % 86400) // 3600)
        start, end = self.quiet_hours
        return start <= hour < end if start <= end else hour >= start or hour < end


def normalized(text: str) -> str:
    return " ".join(text.split())


# ---- the policy ----


@dataclass
class ChatState:
    history: deque  # recent messages (context)
    sent_texts: deque  # normalized texts the persona sent, newest last
    send_times: deque = field(default_factory=deque)
    seq: int = 0  # incoming messages from others so far
    last_incoming: float | None = None
    last_message: float | None = None
    session: int = 0
    disclosed_session: int = -1
    consecutive_self: int = 0
    reply_at: float | None = None
    follow_up_at: float | None = None


class ReplyPolicy:
    def __init__(self, config: PolicyConfig, rng: random.Random | None = None):
        self.config = config
        self.rng = rng or random.Random(0)
        self.chats: dict[str, ChatState] = {}
        self.global_sends: deque[float] = deque()
        self.killed = False
        self.skipped: list[Decision] = []
        self._ids = count(1)

    # -- events --

    def observe(self, event) -> list[Decision]:
        if isinstance(event, Kill):
            self.killed = True
            return [Decision(event.ts, "*", "stop", event.source)]
        if isinstance(event, Resume):
            self.killed = False
            return [Decision(event.ts, "*", "resume", event.source)]
        if isinstance(event, Message):
            return self._message(event)
        return []  # Tick: time passing is handled by `due`

    def _message(self, m: Message) -> list[Decision]:
        c = self.config
        if m.chat not in c.whitelist:
            return [Decision(m.ts, m.chat, "skip", "not_whitelisted")]
        if m.sender in c.owner_ids and not m.from_persona:
            command = m.text.strip()
            if command == c.owner_stop_command:
                return self.observe(Kill(m.ts, "owner"))
            if command == c.owner_resume_command:
                return self.observe(Resume(m.ts, "owner"))
        state = self._state(m.chat)
        if state.last_message is None or m.ts - state.last_message >= c.session_gap_s:
            state.session += 1
        state.last_message = max(m.ts, state.last_message or m.ts)
        if m.from_persona:
            if normalized(m.text) in state.sent_texts:  # the echo of our own send: already counted
                return [Decision(m.ts, m.chat, "skip", "own_message")]
            # Someone typed on the persona's account by hand: they answered, we do not.
            state.history.append(m)
            state.consecutive_self += 1
            state.reply_at = state.follow_up_at = None
            return [Decision(m.ts, m.chat, "skip", "manual_persona_message")]
        burst = state.last_incoming is not None and m.ts - state.last_incoming < c.debounce_s
        state.history.append(m)
        state.seq += 1
        state.last_incoming = m.ts
        state.consecutive_self = 0
        state.follow_up_at = None
        state.reply_at = m.ts + c.debounce_s + self.rng.uniform(*c.jitter_s)
        return [Decision(m.ts, m.chat, "wait", "burst" if burst else "debounce")]

    def _state(self, chat: str) -> ChatState:
        if chat not in self.chats:
            c = self.config
            self.chats[chat] = ChatState(deque(maxlen=c.context_messages), deque(maxlen=c.duplicate_window))
        return self.chats[chat]

    # -- what to send --

    def due(self, now: float) -> list[ReplyRequest]:
        """Requests whose time has come and that may be sent now (the final check is `approve`)."""
        if self.killed:
            return []
        requests = []
        for chat, s in self.chats.items():
            for kind, at in (("reply", s.reply_at), ("follow_up", s.follow_up_at)):
                if at is None or now < at:
                    continue
                s.reply_at, s.follow_up_at = (None, s.follow_up_at) if kind == "reply" else (s.reply_at, None)
                blocked = self._blocked(chat, s, now)
                if blocked:  # a reply that cannot go now is dropped, not sent late
                    self.skipped.append(Decision(now, chat, "skip", f"{kind}:{blocked}"))
                else:
                    requests.append(self._request(chat, s, kind, now))
        return requests

    def busy(self) -> bool:
        """Whether a reply or follow-up is still scheduled (a chat loop drains these before it ends)."""
        return not self.killed and any(
            s.reply_at is not None or s.follow_up_at is not None for s in self.chats.values()
        )

    def take_decisions(self) -> list[Decision]:
        """Decisions made inside `due` (replies dropped by quiet hours, rate limits, the cap)."""
        out, self.skipped = self.skipped, []
        return out

    def _request(self, chat: str, s: ChatState, kind: str, now: float) -> ReplyRequest:
        c = self.config
        disclose = c.disclosure and chat not in c.disclosure_chats and s.disclosed_session != s.session
        return ReplyRequest(next(self._ids), chat, kind, tuple(s.history), disclose, now, s.seq)

    def _blocked(self, chat: str, s: ChatState, now: float) -> str | None:
        """Why nothing may be sent in `chat` now (None: it may)."""
        c = self.config
        if self.killed:
            return "killed"
        if chat not in c.whitelist:
            return "not_whitelisted"
        if c.in_quiet_hours(now):
            return "quiet_hours"
        if s.consecutive_self >= c.max_consecutive_self:
            return "self_cap"
        if s.last_incoming is not None and now - s.last_incoming < c.debounce_s:
            return "burst"
        if _count_since(s.send_times, now - c.rate_per_chat[1]) >= c.rate_per_chat[0]:
            return "rate_limited"
        if _count_since(self.global_sends, now - c.rate_global[1]) >= c.rate_global[0]:
            return "rate_limited"
        return None

    def approve(self, request: ReplyRequest, text: str, now: float) -> tuple[bool, str]:
        """The last gate before sending `text` for `request`: (allowed, reason)."""
        s = self._state(request.chat)
        if not text.strip():
            return False, "empty"
        if s.seq != request.after_seq:
            return False, "stale"  # someone spoke while the reply was being written
        blocked = self._blocked(request.chat, s, now)
        if blocked:
            return False, blocked
        if normalized(text) in s.sent_texts:
            return False, "duplicate"
        return True, "ok"

    def sent(self, request: ReplyRequest, text: str, now: float) -> None:
        """Record a delivered message: rate limits, duplicates, the follow-up timer, disclosure."""
        c, s = self.config, self._state(request.chat)
        s.send_times.append(now)
        self.global_sends.append(now)
        s.sent_texts.append(normalized(text))
        s.history.append(Message(request.chat, "", text, now, True))
        s.last_message = now
        s.consecutive_self += 1
        if request.disclose:
            s.disclosed_session = s.session
        wants_follow_up = self.rng.random() < c.follow_up_probability
        if s.consecutive_self < c.max_consecutive_self and wants_follow_up:
            s.follow_up_at = now + c.follow_up_after_s + self.rng.uniform(*c.jitter_s)


def _count_since(times: deque, since: float) -> int:
    while times and times[0] <= since:
        times.popleft()
    return len(times)


# ---- audit: the promises, checked on what actually happened ----


def violations(timeline, config: PolicyConfig) -> list[str]:
    """Broken promises in a record of a conversation, independent of how the policy decided.
    `timeline`: time-ordered tuples (kind, ts, chat, sender, text) with kind "msg" (someone else),
    "sent" (the persona), "kill" or "resume". Used by the tests and the replay soak."""
    c, found = config, []
    killed, in_row, last_in, sends, all_sends = False, {}, {}, {}, []
    for kind, t, chat, who, text in timeline:
        if kind in ("kill", "resume"):
            killed = kind == "kill"
            continue
        if kind == "msg":
            command = text.strip()
            if (
                chat in c.whitelist
                and who in c.owner_ids
                and command in (c.owner_stop_command, c.owner_resume_command)
            ):
                killed = command == c.owner_stop_command
            else:
                in_row[chat], last_in[chat] = 0, t
            continue
        earlier = sends.setdefault(chat, [])
        in_row[chat] = in_row.get(chat, 0) + 1
        checks = {
            "sent outside the whitelist": chat not in c.whitelist,
            "sent after the kill switch": killed,
            "sent an empty message": not text.strip(),
            "spoke unprompted (or replied to itself)": chat not in last_in,
            "sent during a burst": chat in last_in and t - last_in[chat] < c.debounce_s,
            "exceeded the consecutive-message cap": in_row[chat] > c.max_consecutive_self,
            "sent the same text twice": normalized(text)
            in [normalized(x) for _, x in earlier[-c.duplicate_window :]],
            "exceeded the per-chat rate": sum(t - s < c.rate_per_chat[1] for s, _ in earlier)
            >= c.rate_per_chat[0],
            "exceeded the global rate": sum(t - s < c.rate_global[1] for s in all_sends) >= c.rate_global[0],
            "sent in quiet hours": c.in_quiet_hours(t),
        }
        found += [f"{t:.2f} {chat}: {what}" for what, broken in checks.items() if broken]
        earlier.append((t, text))
        all_sends.append(t)
    return found
