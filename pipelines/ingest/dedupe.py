"""Messages that arrive twice — the same chat exported twice, or by two tools — are kept once, and
every kept message gets a stable, unique `msg_id`.

Two rows are the same message when they carry the same WeChat server id (MsgSvrID), or, where
either lacks one, when they agree on chat, second, speaker, kind and (for text) the normalised
text. A chat can legitimately hold identical messages in the same second ("ok", "ok"), so copies
are matched by occurrence: the n-th such message in one file pairs with the n-th in another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def seconds(ts: pd.Series) -> pd.Series:
    """Unix seconds of aware timestamps (instants, whatever zone they are shown in)."""
    return ts.dt.as_unit("us").astype("int64") // 1_000_000


def text_key(df: pd.DataFrame) -> pd.Series:
    """Text as compared across exports: runs of whitespace (line endings, trailing blanks, which
    exports rewrite) collapsed. Only text messages compare their words; other kinds render
    differently in every export."""
    text = pa.array(df["text"].where(df["kind"] == "text", ""), type=pa.large_string())
    collapsed = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
    return pd.Series(collapsed, index=df.index, dtype="str")


def _hash(columns: dict[str, pd.Series]) -> pd.Series:
    """One 64-bit hash per row of the given columns (collisions are negligible at chat scale)."""
    return pd.util.hash_pandas_object(pd.DataFrame(columns), index=False)


def find_duplicates(df: pd.DataFrame, day_only: np.ndarray | None = None) -> tuple[np.ndarray, pd.Series]:
    """(is_duplicate, msg_id) for a table ordered by preference: the first copy of a message is
    kept, later copies are duplicates. A kept copy without a server id takes one from its
    duplicates when they have it. Rows flagged `day_only` (exports that know only the day, with
    runs of messages merged) cannot be matched one by one: they are duplicates wherever another
    export holds the same chat on the same day."""
    msg_id = df["msg_id"].copy()
    has_id = (msg_id != "").to_numpy()
    dup = has_id & msg_id.duplicated().to_numpy()
    if day_only is not None and day_only.any():
        dup |= _covered_days(df, day_only)

    # Matching by content only matters where one chat came from more than one file.
    live = ~dup
    files_per_chat = df.loc[live, ["chat_id", "source_file"]].drop_duplicates()["chat_id"].value_counts()
    shared = df["chat_id"].isin(files_per_chat.index[files_per_chat > 1]).to_numpy() & live
    if not shared.any():
        return dup, msg_id
    sub = df.loc[shared]
    key = _hash(
        {
            "chat_id": sub["chat_id"],
            "second": seconds(sub["ts"]),
            "sender_id": sub["sender_id"],
            "kind": sub["kind"],
            "text_key": text_key(sub),
        }
    )
    file_code = pd.Series(pd.factorize(sub["source_file"])[0], index=sub.index)
    occurrence = key.groupby([file_code, key], sort=False).cumcount()
    group = _hash({"key": key, "occurrence": occurrence})
    first = ~group.duplicated()
    sub_has_id = pd.Series(has_id[shared], index=sub.index)
    first_has_id = sub_has_id.groupby(group, sort=False).transform("first")
    # Two copies that both carry (different) server ids are two messages.
    sub_dup = ~first & ~(sub_has_id & first_has_id)
    dup[shared] = sub_dup.to_numpy()

    carried = sub["msg_id"].where(sub_has_id & sub_dup).groupby(group, sort=False).transform("first")
    takes = first & ~sub_has_id & carried.notna()
    msg_id.loc[takes[takes].index] = carried[takes]
    return dup, msg_id


def _covered_days(df: pd.DataFrame, day_only: np.ndarray) -> np.ndarray:
    """Day-precision rows whose chat and day another, exact export also covers."""
    chats = df.loc[day_only, "chat_id"].unique()
    near = df["chat_id"].isin(chats).to_numpy()
    days = pd.Series("", index=df.index, dtype="str")
    days[near] = df.loc[near, "chat_id"] + "\x00" + df.loc[near, "ts"].dt.strftime("%Y-%m-%d")
    exact_days = set(days[near & ~day_only])
    return (day_only & days.isin(exact_days)).to_numpy()


def assign_ids(df: pd.DataFrame) -> pd.Series:
    """The final `msg_id` column: the server id where known, else `h` + a hash of the message's
    identity (chat, second, speaker, kind, text) and its occurrence, so re-running on the same
    exports gives the same ids. Unique by construction; a suffix settles any leftover clash."""
    out = df["msg_id"].copy()
    missing = (out == "").to_numpy()
    if missing.any():
        sub = df.loc[missing]
        base = _hash(
            {
                "chat_id": sub["chat_id"],
                "second": seconds(sub["ts"]),
                "sender_id": sub["sender_id"],
                "kind": sub["kind"],
                "text": sub["text"],
            }
        )
        occurrence = base.groupby(base, sort=False).cumcount()
        final = _hash({"h": base, "n": occurrence})
        out.loc[missing] = [f"h{v:016x}" for v in final.to_numpy()]
    clash = out.duplicated(keep="first")
    if clash.any():
        n = out.groupby(out).cumcount()
        out[clash] = out[clash] + "-" + n[clash].astype("str")
    return out
