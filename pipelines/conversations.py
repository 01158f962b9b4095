"""Conversations inside a chat: where one ends and the next begins.

Training examples (`sft_data`) and memory snippets (`memory`) must agree on what "the same
conversation" is: memory-augmented examples may never retrieve a snippet from their own session.
So sessions are numbered once, on the whole anonymized table, before either stage drops anything.
"""

from __future__ import annotations

import pandas as pd


def session_numbers(messages: pd.DataFrame, gap_minutes: float) -> pd.Series:
    """Per message (same index), the number of its conversation within its chat: a new session
    starts after a silence longer than `gap_minutes`. Needs columns `chat` and `ts`."""
    ordered = messages.sort_values(["chat", "ts"], kind="stable")
    new = ordered.groupby("chat", sort=False)["ts"].diff() > pd.Timedelta(minutes=gap_minutes)
    return new.astype("int64").groupby(ordered["chat"], sort=False).cumsum().reindex(messages.index)


def session_key(chat: str, number: int) -> str:
    """A session's id across stages: `C1:17`."""
    return f"{chat}:{number}"
