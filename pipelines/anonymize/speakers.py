"""Who is who: the persona, excluded third parties, and a placeholder for everyone else; and the
names by which each of them can be mentioned in text."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd
from omegaconf import DictConfig

from pipelines.stage import StageError
from runtime import pii
from runtime.prompt import TARGET

_NAME_ID = "name:"  # ingest's id for someone known only by a display name: the rest is that name
_NOT_NAMES = {"self"}  # ingest's id for the owner when no export shows the owner's wxid


GROUP = "<GROUP>"  # a group chat's name mentioned in text


def other_placeholder(rank: int) -> str:
    return f"<U{rank}>"


def id_as_name(sender_id: str) -> str:
    """The text form in which a sender id could be mentioned: a wxid as is, the name behind a
    name-only id, nothing for ids ingest made up."""
    if sender_id.startswith(_NAME_ID):
        return sender_id.removeprefix(_NAME_ID)
    if not sender_id or sender_id in _NOT_NAMES or ":" in sender_id:
        return ""
    return sender_id


@dataclass
class People:
    """Per-row flags and per-speaker placeholders for one message table."""

    is_target: pd.Series  # bool per row
    excluded: pd.Series  # bool per row: an excluded speaker's message
    placeholder_of: dict[str, str]  # sender_id -> <TARGET> / <U1>…, for every kept speaker
    names_of: dict[str, set[str]]  # placeholder -> every name it was seen or configured under
    ids_of: dict[str, list[str]]  # placeholder -> sender ids
    excluded_names: set[str] = field(default_factory=set)


def _keys(names: Iterable[str]) -> set[str]:
    return {pii.name_key(str(n)) for n in names if pii.name_key(str(n))}


def _map_unique(s: pd.Series, func) -> pd.Series:
    """`s.map(func)`, calling func once per distinct value (a million rows hold few names)."""
    return s.map({v: func(v) for v in s.unique()})


def _key_of_name_or_id(value: str) -> str:
    return pii.name_key(id_as_name(value) or value)


def _row_matches(df: pd.DataFrame, ids: Iterable[str], names: Iterable[str]) -> pd.Series:
    """Rows whose sender id is one of `ids` or whose shown name (or name-only id) is one of `names`."""
    keys = _keys(names)
    by_name = _map_unique(df["sender_name"], pii.name_key).isin(keys)
    by_id_name = _map_unique(df["sender_id"], lambda sid: pii.name_key(id_as_name(sid))).isin(keys)
    return df["sender_id"].isin([str(i) for i in ids]) | by_name | by_id_name


def _whole_speakers(df: pd.DataFrame, rows: pd.Series) -> pd.Series:
    """A sender matched on any row is matched on all their rows (one name seen once is enough)."""
    ids = set(df.loc[rows & (df["sender_id"] != ""), "sender_id"])
    return rows | df["sender_id"].isin(ids)


def _names_by_sender(df: pd.DataFrame) -> dict[str, set[str]]:
    pairs = df.loc[df["sender_id"] != "", ["sender_id", "sender_name"]].drop_duplicates()
    names: dict[str, set[str]] = defaultdict(set)
    for sid, name in pairs.itertuples(index=False):
        names[sid].update(n for n in (name, id_as_name(sid)) if n)
    return names


def _no_subject_error(subject: DictConfig, df: pd.DataFrame, source: str) -> StageError:
    """The message for a subject that matches nobody. It names senders to help fix the config; it
    goes to the console only (StageError), never into a report."""
    top = (
        df.loc[df["sender_id"] != ""]
        .groupby("sender_id")
        .agg(
            n=("sender_name", "size"), names=("sender_name", lambda s: " / ".join(sorted(set(s) - {""})[:3]))
        )
    )
    top = top.sort_values("n", ascending=False).head(5)
    lines = "\n".join(f"  {sid} ({row.names}): {row.n} messages" for sid, row in top.iterrows())
    hint = (
        "" if subject.get("self") or not df["is_self"].any() else " (or self: true if the persona exported)"
    )
    return StageError(
        f"subject matches no sender in {source}: ids {list(subject.get('ids') or [])}, names "
        f"{list(subject.get('names') or [])}, self: {bool(subject.get('self'))} — check conf/subject.yaml"
        f"{hint}. The most frequent senders are:\n{lines or '  (no messages with a sender)'}"
    )


def identify(
    subject: DictConfig,
    df: pd.DataFrame,
    source: str = "the message table",
    known_names: dict[str, list[str]] | None = None,
) -> People:
    """Resolve the persona and the excluded speakers, and number everyone else <U1>, <U2>… by
    descending message count (ties: who spoke first, then sender id). `known_names` (sender id ->
    names from ingest's contact record) adds names a person never sent under: remarks, accounts."""
    rows = _row_matches(df, subject.get("ids") or [], subject.get("names") or [])
    if subject.get("self"):
        rows |= df["is_self"].astype(bool)
    is_target = _whole_speakers(df, rows)
    if not is_target.any():
        raise _no_subject_error(subject, df, source)

    exclude = subject.get("exclude") or {}
    excluded = _whole_speakers(df, _row_matches(df, exclude.get("ids") or [], exclude.get("names") or []))
    if (is_target & excluded).any():
        raise StageError(
            "conf/subject.yaml names the same person as the subject and under exclude: "
            "remove them from one of the two lists"
        )

    names = _names_by_sender(df)
    for sid, extra in (known_names or {}).items():
        if sid in names:
            names[sid] |= set(extra)
    placeholder_of = {
        sid: TARGET for sid in df.loc[is_target & (df["sender_id"] != ""), "sender_id"].unique()
    }
    others = df[~is_target & ~excluded & (df["sender_id"] != "")]
    order = others.groupby("sender_id").agg(n=("ts", "size"), first=("ts", "min")).reset_index()
    order = order.sort_values(["n", "first", "sender_id"], ascending=[False, True, True], kind="stable")
    placeholder_of |= {sid: other_placeholder(i) for i, sid in enumerate(order["sender_id"], start=1)}

    names_of: dict[str, set[str]] = defaultdict(set)
    ids_of: dict[str, list[str]] = defaultdict(list)
    for sid, ph in placeholder_of.items():
        names_of[ph] |= names.get(sid, set())
        ids_of[ph].append(sid)
    names_of[TARGET] |= {str(n) for n in subject.get("names") or []}
    names_of[TARGET] |= {str(i) for i in subject.get("ids") or []}

    excluded_names = {str(n) for n in [*(exclude.get("names") or []), *(exclude.get("ids") or [])]}
    for sid in df.loc[excluded & (df["sender_id"] != ""), "sender_id"].unique():
        excluded_names |= names.get(sid, set())
    return People(is_target, excluded, placeholder_of, dict(names_of), dict(ids_of), excluded_names)


@dataclass(frozen=True)
class NameIndex:
    """Every name to replace in text and what replaces it (a member's placeholder, or <PERSON>)."""

    labels: dict[str, pii.Span]  # name_key -> template span (entity SPEAKER/PERSON, label)
    regex: re.Pattern[str] | None  # from runtime.pii.names_regex
    ambiguous: int  # names shared by several members: masked as <PERSON>

    def find(self, text: str) -> list[pii.Span]:
        return pii.find_names(text, self.regex, self.labels)


def _owners(people: People, usable: Callable[[str], bool]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """name key -> placeholders of the members known by that name, and name key -> one spelling."""
    owners: dict[str, set[str]] = defaultdict(set)
    shown: dict[str, str] = {}
    for ph, names in people.names_of.items():
        for n in filter(usable, names):
            owners[pii.name_key(n)].add(ph)
            shown.setdefault(pii.name_key(n), n)
    return owners, shown


def name_index(
    people: People,
    person_names: Iterable[str] = (),
    min_chars: int = 2,
    ignore: Iterable[str] = (),
    group_names: Iterable[str] = (),
) -> NameIndex:
    """Names of members map to their placeholder; a name two members share, an excluded speaker's
    name and configured third-party names map to <PERSON>; group chat names map to <GROUP>.
    Short and ignored names are skipped."""
    skip = _keys(ignore)

    def usable(name: str) -> bool:
        key = pii.name_key(name)
        return len(key) >= min_chars and key not in skip

    owners, shown = _owners(people, usable)
    labels = {
        key: pii.Span(0, 0, pii.SPEAKER, 1.0, next(iter(phs)))
        if len(phs) == 1
        else pii.Span(0, 0, "PERSON", 1.0)
        for key, phs in owners.items()
    }
    ambiguous = sum(len(phs) > 1 for phs in owners.values())
    for n in filter(usable, [*people.excluded_names, *person_names]):
        labels[pii.name_key(n)] = pii.Span(0, 0, "PERSON", 1.0)
        shown.setdefault(pii.name_key(n), n)
    for n in filter(usable, group_names):
        labels.setdefault(pii.name_key(n), pii.Span(0, 0, pii.SPEAKER, 1.0, GROUP))
        shown.setdefault(pii.name_key(n), n)
    return NameIndex(labels, pii.names_regex(shown[k] for k in labels), ambiguous)


def quote_speakers(quote_sender: pd.Series, people: People) -> tuple[pd.Series, pd.Series]:
    """The quoted sender's placeholder ("" when unknown or ambiguous) and whether the quote holds an
    excluded speaker's words (removed like their messages). `quote_sender` is a whole name or a
    wxid, so short names count here, unlike in free text."""
    owners, _ = _owners(people, lambda name: bool(pii.name_key(name)))
    by_name = {k: next(iter(phs)) for k, phs in owners.items() if len(phs) == 1}
    keys = _map_unique(quote_sender, _key_of_name_or_id)
    placeholders = quote_sender.map(people.placeholder_of).fillna(keys.map(by_name)).fillna("")
    of_excluded = keys.isin(_keys(people.excluded_names)) & (quote_sender != "")
    return placeholders.astype("str"), of_excluded
