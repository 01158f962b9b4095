"""WeChat desktop transport: the persona reads and writes whitelisted WeChat chats on a Windows PC.

    pip install uiautomation        # Apache-2.0; the only extra package, Windows only
    # start Narrator (Ctrl+Win+Enter) before WeChat logs in: WeChat 4.x exposes its UI automation tree
    # only while a screen reader runs, and some machines expose none at all (then this cannot work)
    python -m runtime chat --bundle DIR --transport wechat --allow-chat "家人群"

Two layers, so that everything that decides something is tested on Linux:
- `WeChatTransport` is the logic (pure Python): which messages are new, the outbox that sends and
  verifies, health checks and the circuit breaker. It drives the window only through `WeChatUI`.
- `UIAutomationWeChat` is the thin Windows driver behind `WeChatUI`, built on `uiautomation`, which is
  imported inside the class so this module imports anywhere. Its selectors for WeChat 4.x come from
  public reports and are not verified here (see `WeChatSelectors`).

Incoming messages. The UI gives no stable message ids, so a message is identified by content and
position: each read of a chat's visible tail (oldest first) is aligned against the rows already known
for that chat; only rows past the end of the known log are new, and only when at least `anchor_rows`
known rows in front of them agree (`count_new`). A chat's known log starts from a baseline taken only
after two identical reads, so history on screen at startup is never new. A partly rendered list is a
shorter stretch of the same log and aligns inside it; a repeated text still counts as new when the rows
in front of it show that it is an extra copy. A read that cannot be placed (only new rows rendered, or
a burst wider than the window) is held back; the same full read twice means the anchor is lost: the
chat is baselined again and the rows that scrolled past are skipped (incident "lost_anchor"), never
guessed.

Outgoing messages go through an outbox: pending → sent → verified | failed. A send starts only when the
chat is in sync and its input box is empty (someone typing there is left alone). After typing and
sending, the tail is read again (`verify_reads` times); the send is verified only with exactly one new
copy of the text from the logged-in account and an empty input box. It is retried at most once, and
only when no copy appeared and the text is still in the input box (provably unsent); a text that
vanished without a copy, or that appears twice, is an incident, never a blind retry. The account's own
new rows come back once as `Message(..., from_persona=True)` echoes.

Health: every poll checks the window (present, logged in, tree readable) and the reads; after
`trip_after` failing polls in a row (or `trip_after_send_failures` unverified sends) the circuit breaker
opens: sends stop and `Kill(now, "wechat_unhealthy")` is emitted once. It closes again after
`recover_after` healthy polls in a row. It never emits Resume: the policy's kill switch is one switch
for every source, so a Resume from here could undo an owner's stop. After a Kill the owner resumes the
persona (the owner resume command in a chat) or restarts it.

Threading: UI automation objects belong to the thread that made them, so all UI calls must come from
one thread. The chat loop calls poll and send from one thread; the transport remembers the thread that
built it and raises if another thread calls in.

Logs go to the "still.wechat" logger: every incident, outbox transition and breaker change, with chat
names, counts and lengths but never message text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from runtime.policy import Kill, Message

log = logging.getLogger("still.wechat")

SELF = "\x00self"  # sender of the logged-in account's own rows; no WeChat nickname can be this
Row = tuple[str, str]  # (sender, text) as read from the window; sender "" is a system row
HEALTH_CHECKS = (("window", "window_missing"), ("logged_in", "logged_out"), ("tree", "tree_unreadable"))


class WeChatUnavailable(RuntimeError):
    """The real WeChat driver cannot run here: not Windows, or the uiautomation package is missing."""


class WeChatUI(Protocol):
    """What the transport needs from the WeChat window. Every call comes from the same thread."""

    def health(self) -> dict[str, bool]:
        """{"window": main window present, "logged_in": logged in, "tree": UI tree readable}."""
        ...

    def open_chat(self, chat: str) -> bool:
        """Show `chat` (switch to it, or find its popped-out window); False when it is not shown."""
        ...

    def read_messages(self, chat: str) -> list[Row] | None:
        """The visible tail of `chat`, oldest first, as (sender, text); the account's own rows have
        sender SELF. No time separators or "new messages" markers. None when it cannot be read."""
        ...

    def type_and_send(self, chat: str, text: str) -> bool:
        """Replace the input box content with `text` and press the send key; False if it could not."""
        ...

    def input_box_empty(self, chat: str) -> bool:
        """Whether the input box of `chat` is empty (False when unknown)."""
        ...

    def clear_input(self, chat: str) -> bool:
        """Empty the input box of `chat`, so no persona text is left for someone to send by accident."""
        ...


def normalize(text: str) -> str:
    """Text as compared: unified newlines, no trailing spaces on lines, no surrounding whitespace."""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def clean_read(rows: Sequence[Row]) -> list[Row]:
    """Normalized rows of one read. A row with no text is not rendered yet; only the contiguous stretch
    after the last such row is kept, so a read is always an unbroken run of the chat."""
    out = [(s if s == SELF else str(s).strip(), normalize(t)) for s, t in rows]
    blanks = [i for i, (_, text) in enumerate(out) if not text]
    return out[blanks[-1] + 1 :] if blanks else out


def count_new(known: Sequence[Row], read: Sequence[Row], anchor: int = 3) -> int | None:
    """How many rows at the end of `read` come after the end of `known`; None when `read` cannot be
    placed in `known` with confidence.

    `read` is a contiguous stretch of the chat; placing it means finding where all its rows that
    overlap the log agree with it. First the reads that reach the bottom of the log (the list is kept
    at its newest rows), fewest new rows first; new rows count only when at least `anchor` rows before
    them agree with the end of the log (fewer when the log is shorter): one matching row is too weak
    for common texts ("哈哈", "[图片]") and would let a render that shows only new rows pass for old
    ones. Then a stretch inside the log (scrolled up, partly rendered), which is never new. A repeated
    text is new when the rows in front of it show that it is an extra copy.

    Ambiguity left: a new message is missed while every visible row equals the row before it (same
    sender and text), until a read shows a different row in front of the run.
    """
    k, r = len(known), len(read)
    if r == 0:
        return 0

    def agree(o: int) -> bool:  # read[i] placed at known[o + i]
        return all(read[i] == known[o + i] for i in range(max(0, -o), min(r, k - o)))

    for new in range(r):
        if new and min(r - new, k) < min(anchor, k):
            break
        if agree(k - r + new):
            return new
    need = min(anchor, r, k)
    for o in range(k - r - 1, -r, -1):
        if min(r, k - o) - max(0, -o) >= need and agree(o):
            return 0
    return None


class SendState(Enum):
    PENDING = "pending"
    SENT = "sent"
    VERIFIED = "verified"
    FAILED = "failed"


@dataclass
class OutboxItem:
    """One message the persona asked to send, and what became of it."""

    chat: str
    text: str
    created: float
    state: SendState = SendState.PENDING
    attempts: int = 0
    copies: int = 0
    reason: str = ""


@dataclass(frozen=True)
class WeChatSettings:
    """Timings and thresholds of the WeChat transport (defaults suit the chat loop's 0.25 s tick)."""

    read_interval_s: float = 2.0  # re-read (re-sync) each whitelisted chat at most this often
    reads_per_poll: int = 1  # chats read per poll: switching chats is a visible UI action
    verify_reads: int = 2  # reads after each send that count its copies (a late duplicate shows too)
    verify_delay_s: float = 0.4  # wait before each verification read: WeChat renders asynchronously
    trip_after: int = 3  # failing polls in a row that open the circuit breaker
    trip_after_send_failures: int = 3  # unverified sends in a row that open it
    recover_after: int = 5  # healthy polls in a row that close it again
    stale_after_s: float = 60.0  # no successful read for this long is a failure
    keep_rows: int = 500  # rows kept per chat for alignment
    anchor_rows: int = 3  # known rows a read must show before new rows for them to count
    lost_anchor_reads: int = 4  # identical unaligned reads, narrower than a full one, that lose the anchor


@dataclass
class ChatLog:
    """What the transport knows of one chat: rows since its baseline, oldest first, with their ids."""

    name: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (sender, text, msg_id)
    baselined: bool = False
    candidate: list[Row] | None = None  # last read while waiting for two identical reads
    unaligned: list[Row] | None = None  # last read that did not align with the log
    unaligned_seen: int = 0  # how many times in a row that read came back
    widest: int = 0  # longest read that aligned (a full render)
    epoch: int = 0  # bumped at each (re)baseline so message ids never repeat
    next_read: float = float("-inf")

    def known(self) -> list[Row]:
        return [(s, t) for s, t, _ in self.rows]


class WeChatTransport:
    """The persona in whitelisted WeChat chats (see the module docstring for the whole story)."""

    name = "wechat"

    def __init__(
        self,
        chats: Sequence[str],
        ui: WeChatUI | None = None,
        settings: WeChatSettings | None = None,
        persona: str = "persona",
        sleep: Callable[[float], None] = time.sleep,
    ):
        chats = list(dict.fromkeys(c for c in chats if c))
        if not chats:
            raise ValueError("the WeChat transport needs at least one chat to watch (--allow-chat NAME)")
        self.settings = settings or WeChatSettings()
        self.persona = persona
        self.sleep = sleep
        self._thread = threading.get_ident()  # the one thread that may touch the UI
        self.ui: WeChatUI = ui if ui is not None else UIAutomationWeChat()
        self.chats = {c: ChatLog(c) for c in chats}
        self.outbox: deque[OutboxItem] = deque(maxlen=200)
        self.incidents: Counter[str] = Counter()
        self.breaker_open = False
        self._events: list = []
        self._failing_polls = 0
        self._failed_sends = 0
        self._healthy_polls = 0
        self._last_ok_read: float | None = None
        self._closed = False

    # -- the transport surface ---------------------------------------------------------------------

    def poll(self, now: float) -> list:
        """Check health, re-read the chats that are due, and return the events found since last time."""
        self._check_thread()
        if self._last_ok_read is None:
            self._last_ok_read = now
        reason = self._health()
        if self.breaker_open:
            self._healthy_polls = self._healthy_polls + 1 if reason is None else 0
            if self._healthy_polls >= self.settings.recover_after:
                self._recover(now)
        else:
            if reason is None:
                reason = self._read_due(now)
            if reason is None and now - self._last_ok_read > self.settings.stale_after_s:
                reason = "no_recent_read"
            self._count_poll(reason, now)
        events, self._events = self._events, []
        return events

    def send(self, chat: str, text: str, now: float) -> bool:
        """Send through the outbox; True only when exactly one copy appeared and the input box is empty."""
        self._check_thread()
        item = OutboxItem(chat, text, now)
        self.outbox.append(item)
        self._outbox_log(item)
        if chat not in self.chats:
            return self._fail(item, "not_whitelisted", counts=False)
        if self.breaker_open:
            return self._fail(item, "circuit_open", counts=False)
        target = normalize(text)
        if not target:
            return self._fail(item, "empty_text", counts=False)
        state = self.chats[chat]
        _, reason = self._read(state, now)
        if reason is None and not state.baselined:  # first contact: a second read may settle it
            self.sleep(self.settings.verify_delay_s)
            _, reason = self._read(state, now)
        if reason is not None:
            return self._fail(item, reason)
        if not state.baselined:
            return self._fail(item, "no_baseline")
        if state.unaligned is not None:  # the screen cannot be placed in the log: a copy could not be told
            return self._fail(item, "not_synced", counts=False)
        if not self._ui_bool("input_box_empty", chat):
            return self._fail(item, "input_busy", counts=False)  # someone is typing there: leave it

        empty = False
        for attempt in (1, 2):
            item.attempts = attempt
            if self._ui_bool("type_and_send", chat, text):
                item.state = SendState.SENT
                self._outbox_log(item)
            item.copies += self._count_copies(state, target, now)
            empty = self._ui_bool("input_box_empty", chat)
            if item.copies or empty or attempt == 2:
                break
            # No copy and the text still in the box: provably unsent (send key swallowed, e.g. the
            # Ctrl+Enter setting), so one retry cannot double-send.
            self._incident("send_retry", chat)
            if not self._ui_bool("clear_input", chat):
                break

        if item.copies == 1 and empty:
            item.state = SendState.VERIFIED
            self._outbox_log(item)
            self._failed_sends = 0
            return True
        if item.copies > 1:
            reason = "duplicate_send"
        elif item.copies == 1:
            reason = "input_not_empty"
        else:
            reason = "not_sent" if not empty else "unverified"  # unverified: gone without a copy here
        if not empty:
            self._ui_bool("clear_input", chat)
        return self._fail(item, reason)

    def finished(self, now: float) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        close = getattr(self.ui, "close", None)
        if callable(close):
            close()

    # -- reading -------------------------------------------------------------------------------------

    def _read_due(self, now: float) -> str | None:
        """Re-read up to `reads_per_poll` chats whose interval has passed; the first failure, if any."""
        due = sorted((c for c in self.chats.values() if c.next_read <= now), key=lambda c: c.next_read)
        failure = None
        for state in due[: self.settings.reads_per_poll]:
            state.next_read = now + self.settings.read_interval_s
            _, reason = self._read(state, now)
            failure = failure or reason
        return failure

    def _read(self, state: ChatLog, now: float) -> tuple[list[Row], str | None]:
        """Read one chat and merge it into its log: (new rows, failure reason or None)."""
        if not self._ui_bool("open_chat", state.name):
            return [], self._incident("open_chat_failed", state.name)
        try:
            raw = self._ui("read_messages", state.name)
        except Exception as e:  # the driver's errors are incidents, not crashes
            return [], self._incident("read_error", state.name, error=type(e).__name__)
        if raw is None:
            return [], self._incident("read_failed", state.name)
        rows = clean_read(raw)
        if not rows:
            if state.baselined and state.rows:  # a chat with messages shows none: not visible
                return [], self._incident("chat_not_visible", state.name)
            return [], None  # nothing to baseline yet (empty or unrendered); never a baseline
        self._last_ok_read = now
        return self._merge(state, rows, now), None

    def _merge(self, state: ChatLog, rows: list[Row], now: float) -> list[Row]:
        """Take a baseline after two identical reads; afterwards append and emit only aligned new rows."""
        if not state.baselined:
            if rows == state.candidate:
                self._rebase(state, rows)
                log.info("wechat baseline chat=%s rows=%d", state.name, len(rows))
            else:
                state.candidate = rows
            return []
        n = count_new(state.known(), rows, self.settings.anchor_rows)
        if n is None:
            # Usually a passing partial render that shows only new rows: wait for a fuller read. The same
            # read again, as wide as a full read (or a few times when narrower), means the anchor is lost
            # (more new rows than the window holds): start again from a baseline, emitting nothing.
            state.unaligned_seen = state.unaligned_seen + 1 if rows == state.unaligned else 1
            state.unaligned = rows
            needed = 2 if len(rows) >= state.widest else self.settings.lost_anchor_reads
            if state.unaligned_seen >= needed:
                self._incident("lost_anchor", state.name, rows=len(rows))
                self._rebase(state, rows)
            return []
        state.unaligned, state.unaligned_seen = None, 0
        state.widest = max(state.widest, len(rows))
        new = rows[len(rows) - n :] if n else []
        for sender, text in new:
            msg_id = self._append(state, sender, text)
            if sender == SELF:
                self._events.append(Message(state.name, self.persona, text, now, True, msg_id))
            elif sender:  # "" is a system row: part of the log, never a message
                self._events.append(Message(state.name, sender, text, now, False, msg_id))
        return new

    def _rebase(self, state: ChatLog, rows: list[Row]) -> None:
        state.rows, state.candidate, state.unaligned, state.unaligned_seen = [], None, None, 0
        state.widest = len(rows)
        state.epoch += 1
        state.baselined = True
        for sender, text in rows:
            self._append(state, sender, text)

    def _append(self, state: ChatLog, sender: str, text: str) -> str:
        """Add a row; its id chains chat, epoch, the previous row's id, sender and text."""
        prev = state.rows[-1][2] if state.rows else f"{state.name}\x1f{state.epoch}"
        digest = hashlib.blake2b(f"{prev}\x1f{sender}\x1f{text}".encode(), digest_size=8).hexdigest()
        msg_id = f"wx-{digest}"
        state.rows.append((sender, text, msg_id))
        del state.rows[: -self.settings.keep_rows]
        return msg_id

    def _count_copies(self, state: ChatLog, target: str, now: float) -> int:
        """Copies of `target` from the account among rows that appear over the verification reads."""
        copies = 0
        for _ in range(self.settings.verify_reads):
            self.sleep(self.settings.verify_delay_s)
            new, _ = self._read(state, now)
            copies += sum(1 for sender, text in new if sender == SELF and text == target)
        return copies

    # -- health and the circuit breaker --------------------------------------------------------------

    def _health(self) -> str | None:
        """The first failed health check (window present, logged in, tree readable), or None."""
        try:
            health = self._ui("health")
            for key, reason in HEALTH_CHECKS:
                if not health.get(key):
                    return reason
        except Exception as e:
            return self._incident("health_error", error=type(e).__name__)
        return None

    def _count_poll(self, reason: str | None, now: float) -> None:
        if reason is None:
            if self._failing_polls:
                log.info("wechat healthy again after %d failing polls", self._failing_polls)
            self._failing_polls = 0
            return
        self._failing_polls += 1
        log.warning("wechat unhealthy poll %d/%d: %s", self._failing_polls, self.settings.trip_after, reason)
        if self._failing_polls >= self.settings.trip_after:
            self._trip(now, f"{self._failing_polls} failing polls, last: {reason}")

    def _trip(self, now: float, why: str) -> None:
        """Open the breaker: sends stop and one Kill goes out for this trip."""
        self.breaker_open = True
        self._healthy_polls = 0
        self._events.append(Kill(now, "wechat_unhealthy"))
        self._incident("circuit_open", level=logging.ERROR, why=why)

    def _recover(self, now: float) -> None:
        self.breaker_open = False
        self._failing_polls = self._failed_sends = self._healthy_polls = 0
        self._last_ok_read = now
        for state in self.chats.values():
            state.next_read = float("-inf")  # re-sync every chat at once
        log.warning("wechat circuit closed after %d healthy polls", self.settings.recover_after)

    # -- outbox bookkeeping ----------------------------------------------------------------------------

    def _fail(self, item: OutboxItem, reason: str, counts: bool = True) -> bool:
        item.state, item.reason = SendState.FAILED, reason
        self._outbox_log(item)
        if reason == "duplicate_send":
            self._incident(reason, item.chat, level=logging.ERROR, copies=item.copies)
        else:
            self._incident(f"send_{reason}", item.chat)
        if counts:
            self._failed_sends += 1
            if self._failed_sends >= self.settings.trip_after_send_failures and not self.breaker_open:
                self._trip(item.created, f"{self._failed_sends} unverified sends, last: {reason}")
        return False

    def _outbox_log(self, item: OutboxItem) -> None:
        log.info("wechat outbox chat=%s state=%s attempts=%d copies=%d chars=%d%s", item.chat,
                 item.state.value, item.attempts, item.copies, len(item.text),
                 f" reason={item.reason}" if item.reason else "")  # fmt: skip

    # -- plumbing --------------------------------------------------------------------------------------

    def _incident(self, kind: str, chat: str | None = None, level: int = logging.WARNING, **fields) -> str:
        """Count and log an incident (never with message text); returns `kind` for use as a reason."""
        self.incidents[kind] += 1
        detail = " ".join(f"{k}={v}" for k, v in ({"chat": chat, **fields}).items() if v is not None)
        log.log(level, "wechat incident %s %s", kind, detail)
        return kind

    def _check_thread(self) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "WeChatTransport must be used from the thread that created it: UI automation objects "
                "belong to one thread (the chat loop calls poll and send from one thread)"
            )

    def _ui(self, method: str, *args):
        return getattr(self.ui, method)(*args)  # poll and send checked the thread on entry

    def _ui_bool(self, method: str, *args) -> bool:
        """A yes/no UI call where an error means no (the cautious answer to every such question)."""
        try:
            return bool(self._ui(method, *args))
        except Exception as e:  # the driver's errors are incidents, not crashes
            self._incident("ui_error", args[0] if args else None, call=method, error=type(e).__name__)
            return False


# -- the Windows driver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeChatSelectors:
    """Where things are in WeChat 4.x's UI tree. From public reports, NOT verified on a real client:
    check each with Inspect.exe (Windows SDK) while Narrator runs, and adjust here."""

    main_class: str = "mmui::MainWindow"  # reported class of the 4.x main window
    main_names: tuple[str, ...] = ("微信", "Weixin", "WeChat")
    popout_prefix: str = "mmui::"  # a chat popped out into its own window: same class family
    message_list: tuple[str, ...] = ("消息", "Messages")
    session_list: tuple[str, ...] = ("会话", "Chats")
    search_box: tuple[str, ...] = ("搜索", "Search")
    title_depth: int = 12  # how deep to look for the chat title
    avatar_depth: int = 4  # how deep a message row holds its sender's avatar button
    search_wait_s: float = 1.0  # search results take a moment to appear


class UIAutomationWeChat:
    """`WeChatUI` for WeChat 4.x on Windows through Microsoft UI Automation (`uiautomation`, Apache-2.0).

    Own rows are told apart by the avatar's side (right of the list's centre); rows without an avatar
    (time separators, "new messages" markers, system notices) are left out. Sending pastes through the
    clipboard (it overwrites the clipboard) and presses Enter. Not verified on a real client.
    """

    def __init__(self, selectors: WeChatSelectors | None = None):
        if sys.platform != "win32":
            raise WeChatUnavailable(
                "the WeChat transport drives WeChat desktop through Windows UI Automation and runs only "
                f"on Windows (this is {sys.platform}); use --transport console or replay here"
            )
        try:
            from uiautomation import uiautomation as auto
        except ImportError as e:
            raise WeChatUnavailable(
                "the WeChat transport needs the uiautomation package: pip install uiautomation"
            ) from e
        self.auto = auto
        self.sel = selectors or WeChatSelectors()
        self._com = auto.UIAutomationInitializerInThread()  # COM for the one thread the transport uses
        auto.SetGlobalSearchTimeout(2)

    def _main(self):
        for name in self.sel.main_names:
            window = self.auto.WindowControl(searchDepth=1, ClassName=self.sel.main_class, Name=name)
            if window.Exists(0, 0):
                return window
        return None

    def _find(self, root, kind: str, names: Sequence[str]):
        for name in names:
            control = getattr(root, kind)(Name=name)
            if control.Exists(0, 0):
                return control
        return None

    def _popped_out(self, chat: str):
        for window in self.auto.GetRootControl().GetChildren():
            cls = window.ClassName or ""
            if cls.startswith(self.sel.popout_prefix) and cls != self.sel.main_class and window.Name == chat:
                return window
        return None

    def _shows(self, root, chat: str) -> bool:
        title = re.compile(re.escape(chat) + r"(\s*\(\d+\))?$")  # groups show "name (members)"

        def is_title(control, _depth) -> bool:
            return bool(title.match(control.Name or ""))

        return root.TextControl(searchDepth=self.sel.title_depth, Compare=is_title).Exists(0, 0)

    def _chat_root(self, chat: str):
        popped = self._popped_out(chat)
        if popped is not None:
            return popped
        main = self._main()
        return main if main is not None and self._shows(main, chat) else None

    def _input(self, root, chat: str):
        edit = root.EditControl(Name=chat)
        if edit.Exists(0, 0):
            return edit
        search = set(self.sel.search_box)
        edit = root.EditControl(Compare=lambda c, _d: (c.Name or "") not in search)
        return edit if edit.Exists(0, 0) else None

    def health(self) -> dict[str, bool]:
        main = self._main()
        if main is None:
            return {"window": False, "logged_in": False, "tree": False}
        sessions = self._find(main, "ListControl", self.sel.session_list)
        # Without a screen reader WeChat 4.x shows a window with no readable children.
        return {"window": True, "logged_in": sessions is not None, "tree": bool(main.GetChildren())}

    def open_chat(self, chat: str) -> bool:
        if self._chat_root(chat) is not None:
            return True
        main = self._main()
        box = self._find(main, "EditControl", self.sel.search_box) if main is not None else None
        if box is None or not self.auto.SetClipboardText(chat):
            return False
        box.Click(simulateMove=False)
        box.SendKeys("{Ctrl}a{Delete}{Ctrl}v", waitTime=self.sel.search_wait_s)
        box.SendKeys("{Enter}", waitTime=0.3)
        return self._shows(main, chat)  # the first search hit may be another chat: then False

    def read_messages(self, chat: str) -> list[Row] | None:
        root = self._chat_root(chat)
        listing = self._find(root, "ListControl", self.sel.message_list) if root is not None else None
        if listing is None:
            return None
        middle = listing.BoundingRectangle.xcenter()
        rows = []
        for item in listing.GetChildren():
            avatar = item.ButtonControl(searchDepth=self.sel.avatar_depth)
            if not avatar.Exists(0, 0):
                continue
            own = avatar.BoundingRectangle.xcenter() > middle
            rows.append((SELF if own else avatar.Name or "", item.Name or ""))
        return rows

    def type_and_send(self, chat: str, text: str) -> bool:
        root = self._chat_root(chat)
        edit = self._input(root, chat) if root is not None else None
        if edit is None or not self.auto.SetClipboardText(text):
            return False
        edit.Click(simulateMove=False)
        edit.SendKeys("{Ctrl}a{Delete}{Ctrl}v", waitTime=0.2)
        edit.SendKeys("{Enter}", waitTime=0.3)
        return True

    def input_box_empty(self, chat: str) -> bool:
        root = self._chat_root(chat)
        edit = self._input(root, chat) if root is not None else None
        return edit is not None and not (edit.GetValuePattern().Value or "").strip()

    def clear_input(self, chat: str) -> bool:
        root = self._chat_root(chat)
        edit = self._input(root, chat) if root is not None else None
        if edit is None:
            return False
        edit.Click(simulateMove=False)
        edit.SendKeys("{Ctrl}a{Delete}", waitTime=0.2)
        return True

    def close(self) -> None:
        self._com.Uninitialize()
