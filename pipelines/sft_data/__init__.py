"""Stage `sft_data`: anonymized messages -> Alpaca (and ShareGPT) persona training data.

    python -m pipelines.sft_data paths.data=DIR [sft_data.window=8 ...]

Each example is "the last N messages of a conversation -> the persona's next reply", rendered by
`runtime.prompt` (the same code the runtime uses). Conversations are split into sessions at long
silences; validation takes each chat's latest sessions, so no window spans the split.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from pipelines.conversations import session_key, session_numbers
from runtime.memory import MemoryIndex, query_of
from runtime.prompt import TARGET, Turn, format_window, prerender, renumbered_window

TEXT_KINDS = {"text", "quote", "link", "file"}


@dataclass
class SftData:
    train: list[dict]
    val: list[dict]
    sharegpt_train: list[dict]
    sharegpt_val: list[dict]
    stats: dict = field(default_factory=dict)


@dataclass
class _Msg:
    session: int
    ts_ns: int  # nanoseconds since the epoch (integer: exact gap comparisons, cheap to build)
    turn: Turn
    is_target: bool


def merge_persona_runs(msgs: list[_Msg], gap_s: float) -> list[_Msg]:
    """Join the persona's back-to-back text messages (same session, close in time) into one turn."""
    out: list[_Msg] = []
    for m in msgs:
        prev = out[-1] if out else None
        if (
            prev is not None
            and m.is_target
            and prev.is_target
            and prev.session == m.session
            and m.turn.kind in TEXT_KINDS
            and prev.turn.kind in TEXT_KINDS
            and m.ts_ns - prev.ts_ns <= gap_s * 1_000_000_000
        ):
            t = prev.turn
            merged = Turn(
                t.speaker,
                "quote" if t.kind == "quote" else "text",
                f"{t.text}\n{m.turn.text}",
                t.quote_of,
                t.quote_speaker,
            )
            out[-1] = _Msg(prev.session, m.ts_ns, merged, True)
        else:
            out.append(m)
    return out


_NORMALISE_RE = re.compile(r"[\W\d_]+", re.UNICODE)


def near_key(window: str, reply: str) -> str:
    text = unicodedata.normalize("NFKC", f"{window}\x00{reply}").lower()
    return _NORMALISE_RE.sub("", text)


def reply_text(turn: Turn) -> str:
    """The training target: the persona's words (a quote's reply text, a link's title is not hers)."""
    return turn.text.strip() if turn.kind in ("text", "quote") else ""


def run(cfg: DictConfig, messages: pd.DataFrame, memory: MemoryIndex | None = None) -> SftData:
    """Build train/val examples from the anonymized message table (columns: chat, ts, speaker,
    is_target, kind, text, quote_of, quote_speaker). With a memory index and
    `sft_data.memory.fraction > 0`, some examples also get retrieved snippets (field `memory`)."""
    c = plain(cfg.sft_data)
    recall = _Recall(memory, c.memory) if memory is not None and c.memory.fraction > 0 else None
    drops: Counter[str] = Counter()
    dropped_kinds = set(c.context_kinds_dropped)
    examples: dict[str, list[dict]] = {"train": [], "val": []}
    sharegpt: dict[str, list[dict]] = {"train": [], "val": []}
    seen_exact: set[tuple[str, str]] = set()
    seen_near: set[str] = set()
    n_sessions = {"train": 0, "val": 0}

    # Sessions are numbered on the whole table, the way the memory stage numbers them.
    df = messages.assign(session=session_numbers(messages, c.session_gap_minutes))
    df = df[~df["kind"].isin(dropped_kinds)].sort_values(["chat", "ts"], kind="stable")
    for chat_id, chat in df.groupby("chat", sort=True):
        session_ids = chat["session"].to_numpy()
        starts = chat.groupby(session_ids)["ts"].min().sort_values()
        n_val = round(len(starts) * c.val_fraction) if len(starts) > 1 else 0
        val_sessions = set(starts.index[len(starts) - n_val :]) if n_val else set()
        split_of = {s: ("val" if s in val_sessions else "train") for s in starts.index}
        for split in ("train", "val"):
            n_sessions[split] += sum(1 for s in starts.index if split_of[s] == split)

        # Plain Python lists first: iterating Arrow-backed columns value by value is slow.
        columns = [
            chat[c].tolist() for c in ("speaker", "kind", "text", "quote_of", "quote_speaker", "is_target")
        ]
        msgs = [
            _Msg(int(s), ts, Turn(sp, k, t or "", q or "", qs or ""), bool(tg))
            for s, ts, sp, k, t, q, qs, tg in zip(
                session_ids.tolist(),
                chat["ts"].dt.as_unit("ns").astype("int64").tolist(),
                *columns,
                strict=True,
            )
        ]
        if c.merge_consecutive:
            msgs = merge_persona_runs(msgs, c.merge_gap_seconds)

        by_session: dict[int, list[_Msg]] = {}
        for m in msgs:
            by_session.setdefault(m.session, []).append(m)
        for session, session_msgs in by_session.items():
            split = split_of[session]
            rendered = [prerender(m.turn) for m in session_msgs]  # each body once, not once per window
            if c.sharegpt:
                conv = sharegpt_conversation(c, session_msgs)
                if conv is not None:
                    sharegpt[split].append(conv)
            for i, m in enumerate(session_msgs):
                if not m.is_target:
                    continue
                start = max(0, i - c.window)
                reason = _reject(c, m.turn, i - start)
                if reason:
                    drops[reason] += 1
                    continue
                if c.placeholders == "per_window":
                    window = renumbered_window(rendered[start:i])
                else:
                    window = format_window(x.turn for x in session_msgs[start:i])
                reply = reply_text(m.turn)
                if (window, reply) in seen_exact:
                    drops["duplicate"] += 1
                    continue
                seen_exact.add((window, reply))
                if c.near_duplicate:
                    key = near_key(window, reply)
                    if key in seen_near:
                        drops["near_duplicate"] += 1
                        continue
                    seen_near.add(key)
                key, ts = session_key(chat_id, session), m.ts_ns / 1e9
                # session and ts let evaluation keep memory from the example's own conversation
                example = {
                    "instruction": c.instruction,
                    "input": window,
                    "output": reply,
                    "session": key,
                    "ts": ts,
                }
                if recall is not None:
                    example.update(recall(window, reply, key, ts))
                examples[split].append(example)

    stats = _stats(messages, examples, n_sessions, drops)
    stats["with_memory"] = {split: sum("memory" in ex for ex in rows) for split, rows in examples.items()}
    return SftData(examples["train"], examples["val"], sharegpt["train"], sharegpt["val"], stats)


class _Recall:
    """Memory for training examples: the snippets the runtime would retrieve for the window, never
    from the example's own session (that would leak the reply) and, by default, only from the past.
    With `reply_aware`, queries also include the reply, so the model sees memories that matter for
    what it has to say and learns to use them; the lower-ranked snippets beside them, and the
    window-only queries, teach it that not every memory matters."""

    def __init__(self, index: MemoryIndex, c: SimpleNamespace):
        self.index, self.c = index, c
        self.rng = random.Random(c.seed)

    def __call__(self, window: str, reply: str, session: str, ts: float) -> dict:
        c = self.c
        if self.rng.random() >= c.fraction:
            return {}
        query = query_of(window, c.query_messages)
        if self.rng.random() < c.reply_aware:
            query = f"{query} {reply}"
        hits = self.index.search(query, c.k, c.mode, candidates=c.candidates, rrf_k=c.rrf_k,
                                 min_similarity=c.min_similarity, dense_for_chinese=c.dense_for_chinese,
                                 exclude_session=session,
                                 before_ts=ts if c.past_only else None)  # fmt: skip
        if not hits:
            return {}
        return {"memory": [h.snippet.prompt_text for h in hits], "memory_ids": [h.snippet.id for h in hits]}


def plain(node: DictConfig) -> SimpleNamespace:
    """Config as plain attributes: OmegaConf lookups cost ~20 µs each, too slow inside per-message loops."""

    def convert(value):
        return (
            SimpleNamespace(**{k: convert(v) for k, v in value.items()}) if isinstance(value, dict) else value
        )

    return convert(OmegaConf.to_container(node, resolve=True))


def _reject(c: SimpleNamespace, reply: Turn, n_context: int) -> str | None:
    """Why this persona turn is not a useful training target, or None."""
    if n_context < c.min_context:
        return "too_little_context"
    text = reply_text(reply)
    if not text:
        return "non_text_reply" if c.reply.non_text_only == "drop" else None
    if len(text) < c.reply.min_chars:
        return "reply_too_short"
    if len(text) > c.reply.max_chars:
        return "reply_too_long"
    return None


def sharegpt_conversation(c: SimpleNamespace, session: list[_Msg]) -> dict | None:
    """One session as alternating human (everyone else's lines) / gpt (persona) turns."""
    turns: list[dict] = []
    pending: list[Turn] = []
    for m in session:
        if m.is_target and reply_text(m.turn):
            if pending:
                per_window = c.placeholders == "per_window"
                human = (
                    renumbered_window([prerender(t) for t in pending])
                    if per_window
                    else format_window(pending)
                )
                turns.append({"from": "human", "value": human})
                pending = []
            if turns:  # a conversation must open with a human turn
                turns.append({"from": "gpt", "value": reply_text(m.turn)})
        elif not m.is_target:
            pending.append(m.turn)
    if len(turns) < 2:
        return None
    return {"system": c.instruction, "conversations": turns}


def _stats(messages: pd.DataFrame, examples: dict, n_sessions: dict, drops: Counter) -> dict:
    def lengths(rows: list[dict], key: str) -> dict:
        s = pd.Series([len(r[key]) for r in rows], dtype="float64")
        return {
            "mean": round(float(s.mean()), 1) if len(s) else 0.0,
            "median": float(s.median()) if len(s) else 0.0,
        }

    all_rows = examples["train"] + examples["val"]
    return {
        "messages": len(messages),
        "persona_messages": int(messages["is_target"].sum()),
        "sessions_train": n_sessions["train"],
        "sessions_val": n_sessions["val"],
        "examples_train": len(examples["train"]),
        "examples_val": len(examples["val"]),
        "dropped": {reason: drops.get(reason, 0) for reason in sorted(set(drops) | DROP_REASONS)},
        "reply_chars": lengths(all_rows, "output"),
        "window_lines_mean": round(
            sum(r["input"].count("\n") + 1 for r in all_rows) / max(len(all_rows), 1), 2
        ),
        "persona_placeholder": TARGET,
    }


DROP_REASONS = {
    "too_little_context",
    "non_text_reply",
    "reply_too_short",
    "reply_too_long",
    "duplicate",
    "near_duplicate",
}
