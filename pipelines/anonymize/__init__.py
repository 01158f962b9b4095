"""Stage `anonymize`: the unified message table -> the same messages with nobody identifiable.

    python -m pipelines.anonymize paths.data=DIR [subject.ids=[wxid_…]] [anonymize.prefilter=false]

- The persona (conf/subject.yaml: ids, names, or self) speaks as <TARGET>; everyone else as
  <U1>, <U2>… numbered by descending message count; excluded speakers' messages are removed.
- Names of members in text (@mentions, remarks, nicknames, wxids) become their placeholder;
  excluded speakers and configured third parties become <PERSON>.
- PII becomes typed placeholders (<PHONE>, <ID_NUMBER>, …): patterns from `runtime.pii`, run by
  presidio on the texts a column-wide prefilter marks as candidates.
- Names of other people in free text become <PERSON>: the person finder (runtime/person.py, a
  recognizer in the same presidio engine) with the name model built from jieba's dictionary; a
  name it found often enough is masked wherever else it is written. A local NER model, when
  configured (`person.ner`), adds its names in the same passes. The model is written beside
  the messages (`runtime.person.MODEL_FILE`) for the bundle; the names go to the private mapping only.
- Chats become opaque keys (C1, C2… by descending size); message ids become `C1-1`, `C1-2`… in
  time order within the chat (WeChat server ids could be looked up in the owner's database).
- Nothing raw leaves: no sender/chat ids or names, no source paths, no media references. The way
  back (placeholder -> ids and names, chat key -> chat) goes to the private mapping file only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from omegaconf import DictConfig

from pipelines.anonymize import masking, speakers
from pipelines.stage import StageError
from runtime import pii
from runtime.person import NameModel
from runtime.prompt import PLACEHOLDER_RE, TARGET

if TYPE_CHECKING:  # torch and transformers load only for a configured model (audio_prep imports this)
    from pipelines.anonymize.ner import NerModel
    from runtime.person_tagger import NameTagger

INPUT_COLUMNS = (
    "chat_id",
    "chat_name",
    "is_group",
    "msg_id",
    "ts",
    "sender_id",
    "sender_name",
    "is_self",
    "kind",
    "text",
    "quote_of",
    "quote_sender",
)
OUTPUT_COLUMNS = [
    "chat",
    "is_group",
    "msg_id",
    "ts",
    "speaker",
    "is_target",
    "kind",
    "text",
    "quote_of",
    "quote_speaker",
]


@dataclass
class AnonymizeResult:
    messages: pd.DataFrame  # OUTPUT_COLUMNS
    mapping: dict  # private: placeholder -> sender ids and names, chat key -> chat id and name
    report: dict  # counts only


def chat_keys(df: pd.DataFrame) -> dict[str, str]:
    """chat_id -> C1, C2… by descending message count (ties: earliest first, then id)."""
    order = df.groupby("chat_id").agg(n=("ts", "size"), first=("ts", "min")).reset_index()
    order = order.sort_values(["n", "first", "chat_id"], ascending=[False, True, True], kind="stable")
    return {cid: f"C{i}" for i, cid in enumerate(order["chat_id"], start=1)}


def _texts(s: pd.Series, empty: pd.Series | None = None) -> list[str]:
    """A text column as a list, with "" where `empty` is set."""
    s = s.fillna("").astype("str")
    return (s if empty is None else s.where(~empty.to_numpy(), "")).tolist()


def run(
    cfg: DictConfig,
    messages: pd.DataFrame,
    contacts: dict | None = None,
    names_model: NameModel | None = None,
    ner: NerModel | None = None,
    tagger: NameTagger | None = None,
) -> AnonymizeResult:
    """Anonymize the unified message table (columns of `pipelines.ingest.schema.COLUMNS`);
    `contacts` is ingest's private record of every name per person and chat; `names_model` finds
    people's names in free text (runtime/person.py; None: only known names and titles), with
    `tagger`'s beside its rules (runtime/person_tagger.py), and so does `ner`, a local NER model,
    when configured (pipelines/anonymize/ner.py)."""
    c = cfg.anonymize
    source = f"{c.input}/messages.parquet"
    missing = [col for col in INPUT_COLUMNS if col not in messages.columns]
    if missing:
        raise StageError(f"{source} lacks columns {missing}: re-run the ingest stage")
    df = messages.reset_index(drop=True)
    for col in ("chat_id", "chat_name", "sender_id", "sender_name", "kind", "quote_sender"):
        df[col] = df[col].fillna("").astype("str")

    contacts = contacts or {}
    people = speakers.identify(cfg.subject, df, source, contacts.get("people"))
    blank = df["kind"].isin(list(c.blank_kinds))
    if not (people.is_target & ~blank).any():
        kinds = ", ".join(sorted(set(df.loc[people.is_target, "kind"])))
        raise StageError(
            f"the subject in conf/subject.yaml has no messages in {source} (only {kinds}): "
            "check conf/subject.yaml"
        )
    kept = df[~people.excluded]
    blank, is_target = blank[~people.excluded], people.is_target[~people.excluded]
    groups = [chat["name"] for chat in contacts.get("chats", {}).values() if chat.get("is_group")]
    groups += list(df.loc[df["is_group"].astype(bool), "chat_name"].unique())
    index = speakers.name_index(people, list(c.person_names), c.min_name_chars, list(c.ignore_names), groups)
    masker = masking.Masker.build(c.entities, index, names_model, ner, tagger)

    # A quote of an excluded speaker holds their words: removed like their messages.
    quote_speaker, quote_excluded = speakers.quote_speakers(kept["quote_sender"], people)
    texts, quotes = _texts(kept["text"], blank), _texts(kept["quote_of"], quote_excluded)
    result = masking.mask_texts(masker, texts + quotes, c.prefilter, c.person.propagate_min_count)
    masked, counts = result.texts, result.counts

    keys = chat_keys(kept)
    out = pd.DataFrame(
        {
            "chat": kept["chat_id"].map(keys),
            "is_group": kept["is_group"].astype(bool),
            "ts": kept["ts"],
            "speaker": kept["sender_id"].map(people.placeholder_of).where(~is_target, TARGET).fillna(""),
            "is_target": is_target,
            "kind": kept["kind"],
            "text": masked[: len(texts)],
            "quote_of": masked[len(texts) :],
            "quote_speaker": quote_speaker.where(~quote_excluded, ""),
        },
        index=kept.index,
    )
    # Time order within each chat; ids say only where a message sits in its chat.
    out = out.sort_values("ts", kind="stable")
    out = out.iloc[out["chat"].str[1:].astype(int).argsort(kind="stable")].reset_index(drop=True)
    out["msg_id"] = out["chat"] + "-" + (out.groupby("chat").cumcount() + 1).astype("str")
    strings = ["chat", "msg_id", "speaker", "kind", "text", "quote_of", "quote_speaker"]
    out = out[OUTPUT_COLUMNS].astype(dict.fromkeys(strings, "str"))

    report = {  # counts only: never a name, id, value or chat name
        "messages_in": len(df),
        "messages_out": len(out),
        "removed_excluded_speaker": int(people.excluded.sum()),
        "target_messages": int(out["is_target"].sum()),
        "speakers": int(out.loc[out["speaker"] != "", "speaker"].nunique()),
        "chats": len(keys),
        "entities": {e: counts.get(e, 0) for e in masker.entities},
        "names_replaced": counts.get(pii.SPEAKER, 0),
        "at_mentions_replaced": counts.get(masking.AT_MENTION, 0),
        "ambiguous_names": index.ambiguous,
        "quotes_of_excluded_removed": int(quote_excluded.sum()),
        "blanked_by_kind": {k: int((kept["kind"] == k).sum()) for k in c.blank_kinds},
        "prefilter": {"enabled": bool(c.prefilter), "texts": len(masked), "examined": result.analyzed},
        "person_finder": {
            "enabled": masker.find_person is not None,
            "tagger": masker.person_finder is not None and masker.person_finder.tagger is not None,
            "ner_model": masker.ner is not None,
            "names": len(result.person_names),  # distinct names masked by the finder (and the NER model)
            "masked_wherever_written": len(result.propagated),
        },
    }
    mapping = private_mapping(people, kept, keys) | {"outsiders": result.propagated}
    return AnonymizeResult(out, mapping, report)


def private_mapping(people: speakers.People, kept: pd.DataFrame, keys: dict[str, str]) -> dict:
    """The way back from placeholders and chat keys: re-identifying, for data/private only."""
    chat_names = kept.drop_duplicates("chat_id").set_index("chat_id")["chat_name"]
    order = sorted(people.names_of, key=lambda ph: int(m[1]) if (m := PLACEHOLDER_RE.fullmatch(ph)) else 0)
    return {
        "speakers": {
            ph: {"sender_ids": sorted(people.ids_of.get(ph, [])), "names": sorted(people.names_of[ph])}
            for ph in order
        },
        "chats": {key: {"chat_id": cid, "chat_name": chat_names[cid]} for cid, key in keys.items()},
    }
