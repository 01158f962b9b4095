"""One id per chat and one id per person, across every file and format.

Exports name people and chats in many ways (wxid, remark, nickname, group nickname, a sanitised
remark in a file name, "我"). After all files are parsed, the names seen beside wxids anywhere
(contact lists, group member columns, other exports) are used to replace names by wxids — only
where a name points to exactly one wxid. What stays unresolved gets a stable `name:<name>` id,
and the counts go to the report (never the names themselves).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from pipelines.ingest.formats import (
    NAME_PREFIX,
    PLACEHOLDER_PREFIXES,
    Contacts,
    group_chat_id,
    name_id,
    name_key,
    per_value,
)

SELF_ID = "self"  # sender id of the owner's messages when no export shows the owner's wxid
_NO_SPEAKER_KINDS = ("system", "recall")


def is_placeholder(chat_or_sender_id: str) -> bool:
    """True for ids made up from a name (or a local number) rather than read from WeChat."""
    return chat_or_sender_id.startswith(PLACEHOLDER_PREFIXES)


def placeholder_mask(ids: pd.Series) -> pd.Series:
    """`is_placeholder` for a whole column."""
    return ids.str.startswith(PLACEHOLDER_PREFIXES).astype(bool)


def _index(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """name key -> every id seen with that name."""
    index: dict[str, set[str]] = defaultdict(set)
    for wxid, name in pairs:
        if wxid and name:
            index[name_key(name)].add(wxid)
    return index


def _person_pairs(contacts: Contacts) -> Iterable[tuple[str, str]]:
    for wxid, names in contacts.names.items():
        for name in names:
            yield wxid, name


def resolve_chats(df: pd.DataFrame, contacts: Contacts) -> tuple[pd.DataFrame, dict]:
    """Replace name-only chat ids by the real id their name points to, give each chat one display
    name and one group flag. Returns the table and counts for the report."""
    real = df.loc[~placeholder_mask(df["chat_id"]), ["chat_id", "chat_name"]].drop_duplicates()
    index = _index(
        [
            *((cid, name) for cid, (name, _) in contacts.chats.items()),
            # A private chat's id is the partner's wxid: their names name the chat too.
            *((w, n) for w, n in _person_pairs(contacts) if w not in contacts.owners),
            *real.itertuples(index=False),
        ]
    )
    mapping, ambiguous, unresolved = {}, 0, 0
    for cid in df["chat_id"].unique():
        if not cid.startswith(NAME_PREFIX):
            continue
        found = index.get(name_key(cid.removeprefix(NAME_PREFIX)), set())
        if len(found) == 1:
            mapping[cid] = next(iter(found))
        else:
            ambiguous += len(found) > 1
            unresolved += not found
    if mapping:
        df["chat_id"] = df["chat_id"].replace(mapping)

    # One name and one group flag per chat: contact lists first, then what the files showed.
    names = df.loc[df["chat_name"] != df["chat_id"], ["chat_id", "chat_name"]]
    names = names[names["chat_name"] != ""].drop_duplicates("chat_id").set_index("chat_id")["chat_name"]
    guessed_group = df.groupby("chat_id", sort=False)["is_group"].any()
    chat_names, chat_groups = {}, {}
    for cid, guess in guessed_group.items():
        listed = contacts.chats.get(cid)
        listed_name = listed[0] if listed and listed[0] != cid else None
        chat_names[cid] = listed_name or contacts.shown.get(cid) or names.get(cid, cid)
        if is_placeholder(cid):
            chat_groups[cid] = bool(guess)
        else:
            chat_groups[cid] = group_chat_id(cid) or bool(listed and listed[1])
    df["chat_name"] = per_value(df["chat_id"], chat_names.__getitem__)
    df["is_group"] = per_value(df["chat_id"], chat_groups.__getitem__, dtype="bool")
    stats = {
        "chats": len(chat_names),
        "group_chats": sum(chat_groups.values()),
        "chat_ids_resolved_from_names": len(mapping),
        "chats_known_only_by_name": unresolved + ambiguous,
        "chat_names_ambiguous": ambiguous,
    }
    return df, stats


def _owner_by_file(df: pd.DataFrame, owners: set[str]) -> dict[str, str]:
    """The owner's wxid per file: the one id its own rows carry, else the only owner known."""
    shown = df.loc[df["is_self"] & (df["sender_id"] != ""), ["source_file", "sender_id"]].drop_duplicates()
    per_file = shown.groupby("source_file")["sender_id"].agg(lambda s: s.iloc[0] if len(s) == 1 else "")
    default = next(iter(owners)) if len(owners) == 1 else ""
    return {f: per_file.get(f, "") or default for f in df["source_file"].unique()}


def _fill_names(df: pd.DataFrame, contacts: Contacts) -> pd.Series:
    """Rows whose export showed no name (PyWxDump shows only wxids) get the name other exports
    showed most for that speaker, else one from the contact lists."""
    names, sid = df["sender_name"], df["sender_id"]
    missing = (names == "") & (sid != "") & ~placeholder_mask(sid)
    if not missing.any():
        return names
    wanted = sid[missing].unique()
    shown = (
        df.loc[(names != "") & sid.isin(wanted), ["sender_id", "sender_name"]].value_counts().reset_index()
    )
    best = shown.sort_values(["count", "sender_name"], ascending=[False, True]).drop_duplicates("sender_id")
    by_id = dict(zip(best["sender_id"], best["sender_name"], strict=True))
    for wxid in wanted:
        if wxid not in by_id and wxid in contacts.shown:
            by_id[wxid] = contacts.shown[wxid]
    return names.where(~missing, per_value(sid, lambda w: by_id.get(w, "")))


def resolve_speakers(df: pd.DataFrame, contacts: Contacts) -> tuple[pd.DataFrame, dict]:
    """Fill `sender_id` for every row that has a speaker: the wxid the export gave, the owner's
    wxid for own messages, the partner in a private chat, or the one wxid a shown name points to;
    otherwise `name:<name>` (or `self` for own messages when no export shows the owner's wxid)."""
    sid = df["sender_id"].copy()
    names, chat, is_self = df["sender_name"], df["chat_id"], df["is_self"]
    given = sid != ""
    stats = {"rows_with_wxid_in_export": int(given.sum())}

    # Own messages.
    own = is_self & ~given
    if own.any():
        owners = _owner_by_file(df, contacts.owners)
        file_owner = per_value(df.loc[own, "source_file"], owners.__getitem__)
        sid[own] = file_owner.where(file_owner != "", SELF_ID)
    stats["own_rows_owner_wxid_unknown"] = int((own & (sid == SELF_ID)).sum())

    # Private chats: whoever is not the owner is the partner, whose id is the chat's id.
    no_speaker = df["kind"].isin(_NO_SPEAKER_KINDS) & (names == "")
    partner = ~is_self & ~given & ~df["is_group"] & ~no_speaker
    sid[partner] = chat[partner]
    stats["rows_private_chat_partner"] = int(partner.sum())

    # Shown names: first the wxids seen with that name in the same chat, then anywhere.
    named = ~is_self & (sid == "") & (names != "")
    ambiguous, unresolved = set(), set()
    if named.any():
        known = pd.DataFrame({"chat": chat, "sid": sid, "name": names})
        known = known[(sid != "") & (names != "") & ~placeholder_mask(sid)].drop_duplicates()
        in_chat: dict[tuple[str, str], set[str]] = defaultdict(set)
        for cid, wxid, name in known.itertuples(index=False):
            in_chat[(cid, name_key(name))].add(wxid)
        anywhere = _index([*_person_pairs(contacts), *zip(known["sid"], known["name"], strict=True)])
        joined = chat[named] + "\x00" + names[named]
        resolved = {}
        for pair in joined.unique():
            cid, name = pair.split("\x00", 1)
            key = name_key(name)
            found = in_chat.get((cid, key)) or anywhere.get(key, set())
            if len(found) == 1:
                resolved[pair] = next(iter(found))
            else:
                (ambiguous if found else unresolved).add(key)
                resolved[pair] = name_id(name)
        sid[named] = per_value(joined, resolved.__getitem__)
    derived = named & placeholder_mask(sid)
    stats["rows_resolved_from_name"] = int((named & ~derived).sum())
    stats["rows_with_name_only_id"] = int(derived.sum())
    stats["names_ambiguous"] = len(ambiguous)
    stats["names_unresolved"] = len(unresolved)

    df["sender_id"] = sid.astype("str")
    df["sender_name"] = _fill_names(df, contacts)
    # A name that resolved to the owner is the owner speaking (TXT exports show the owner's name).
    df["is_self"] = is_self | df["sender_id"].isin(list(contacts.owners))
    stats["rows_without_speaker"] = int((df["sender_id"] == "").sum())
    stats["speakers"] = int(df.loc[df["sender_id"] != "", "sender_id"].nunique())
    return df, stats
