"""Stage `ingest`: every chat export under the raw chats folder -> one unified message table.

    python -m pipelines.ingest paths.data=DIR

Files may be nested and in any mix of formats; each is recognised by its name and first bytes
(`formats.registry`). Contact lists are read first, then every message export. Then people and
chats get one id across all files (`identity`), messages that arrive twice are kept once
(`dedupe`), and `report.json` accounts for every input row: kept (by kind), dropped (by reason)
or duplicate, per file — never with message text or names.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from pipelines.ingest.dedupe import assign_ids, find_duplicates
from pipelines.ingest.formats import Contacts, ExportError, ParseContext, Parser, per_value
from pipelines.ingest.formats.registry import SUPPORTED, parsers, preference
from pipelines.ingest.identity import resolve_chats, resolve_speakers
from pipelines.ingest.schema import COLUMNS, Dropped, Message, frame_from_messages
from pipelines.stage import StageError

log = logging.getLogger("still.ingest")

HEAD_BYTES = 4096
# Unclaimed files with these extensions are reported as unreadable exports; anything else
# (media, HTML, Word exports, databases nobody claimed) is counted as ignored.
EXPORT_EXTENSIONS = frozenset({".csv", ".json", ".txt"})


@dataclass
class IngestResult:
    messages: pd.DataFrame  # schema.COLUMNS, ts timezone-aware
    report: dict
    # Every name seen per person and chat, from contact lists too: anonymize masks them all.
    # Re-identifying by design: written to paths.private only.
    contacts: dict = field(default_factory=dict)


def contacts_record(contacts: Contacts) -> dict:
    """The private record of who is who: wxid -> names, chat id -> (name, is_group)."""
    return {
        "people": {wxid: sorted(names) for wxid, names in sorted(contacts.names.items())},
        "chats": {
            cid: {"name": name, "is_group": grp} for cid, (name, grp) in sorted(contacts.chats.items())
        },
    }


@dataclass
class _FileResult:
    path: str
    format: str
    role: str
    frame: pd.DataFrame
    dropped: list[Dropped]
    notes: dict


def discover(input_dir: Path) -> list[Path]:
    """Every file under the chats folder, in a stable order (hidden files and DVC metadata skipped)."""
    files = []
    for path in sorted(input_dir.rglob("*")):
        rel = path.relative_to(input_dir)
        if path.is_file() and not any(p.startswith(".") for p in rel.parts) and path.suffix != ".dvc":
            files.append(path)
    return files


def _claim(path: Path, head: bytes, candidates: list[Parser]) -> Parser | None:
    for parser in candidates:
        try:
            if parser.sniff(path, head):
                return parser
        except Exception:  # a sniffer must never stop discovery; the file is then just unclaimed
            log.exception("ingest: %s.sniff failed on %s", type(parser).__name__, path.name)
    return None


_COLUMN_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,40}")
_SUPPORTED_NOTE = f"supported formats are {SUPPORTED}"


def unrecognised(path: Path, head: bytes) -> str:
    """Why an export-looking file was not read. Shows a CSV header only when it is made of column
    names (a header-less file's first line would be a message)."""
    if not head.strip(b"\xef\xbb\xbf \r\n\t"):
        return "empty file"
    sample = head[:-4] if len(head) == HEAD_BYTES else head  # the cut may split a character
    if b"\x00" in head or not _decodes(sample):
        return f"unrecognised export format: binary content, not a text export — {_SUPPORTED_NOTE}"
    what = "first line not shown"
    if path.suffix.lower() == ".csv":
        first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        fields = next(csv.reader([first]), [])
        shown = all(_COLUMN_NAME_RE.fullmatch(f) for f in fields)
        what = (
            f"header {first!r}" if shown else f"header of {len(fields)} fields (not shown: not column names)"
        )
    return f"unrecognised export format: {what} — {_SUPPORTED_NOTE}"


def _decodes(data: bytes) -> bool:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            data.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _parse_file(parser: Parser, path: Path, ctx: ParseContext) -> _FileResult:
    """One file through its parser; the table parsers skip per-row objects."""
    ctx.notes = {}
    if hasattr(parser, "parse_table"):
        table = parser.parse_table(path, ctx)
        frame, dropped = table.messages, list(table.dropped)
    else:
        messages: list[Message] = []
        dropped = []
        for record in parser.parse(path, ctx):
            (messages if isinstance(record, Message) else dropped).append(record)
        frame = frame_from_messages(messages, ctx.timezone)
    return _FileResult(ctx.rel(path), parser.name, parser.role, frame, dropped, dict(ctx.notes))


def claim_files(
    input_dir: Path, candidates: list[Parser], ctx: ParseContext
) -> tuple[list[tuple[Path, Parser]], dict[str, str], Counter]:
    """(file, parser) for every recognised file — contact lists first, so names in every message
    file can be tied to wxids — plus why export-looking files were not recognised, and the count of
    other files (media, HTML…) by extension."""
    claimed: list[tuple[Path, Parser]] = []
    failed: dict[str, str] = {}
    ignored: Counter[str] = Counter()
    for path in discover(input_dir):
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        parser = _claim(path, head, candidates)
        if parser is not None:
            claimed.append((path, parser))
        elif path.suffix.lower() in EXPORT_EXTENSIONS:
            failed[ctx.rel(path)] = unrecognised(path, head)
        else:
            ignored[path.suffix.lower() or "(none)"] += 1
    claimed.sort(key=lambda pair: pair[1].role != "contacts")
    return claimed, failed, ignored


def parse_files(
    claimed: list[tuple[Path, Parser]], ctx: ParseContext, failed: dict[str, str]
) -> list[_FileResult]:
    """Every claimed file through its parser; a file that cannot be read goes to `failed` with the
    reason and costs nothing else."""
    results = []
    for path, parser in claimed:
        rel = ctx.rel(path)
        try:
            result = _parse_file(parser, path, ctx)
        except ExportError as e:
            failed[rel] = str(e).replace(f"{ctx.root}/", "")
            continue
        except Exception as e:  # a parser bug must not cost the other files
            log.exception("ingest: %s failed on %s", parser.name, rel)
            failed[rel] = f"could not be read by {parser.name} ({type(e).__name__}); see the log"
            continue
        results.append(result)
        log.info(
            "ingest: %s (%s): %d messages, %d dropped",
            rel,
            parser.name,
            len(result.frame),
            len(result.dropped),
        )
    return results


def deduplicate(
    df: pd.DataFrame, candidates: list[Parser], enabled: bool
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The table without repeated messages, ordered by chat and time, with final msg ids; and the
    number of duplicates each file had."""
    # Preferred copies first, so deduplication keeps them.
    df["_rank"] = per_value(df["source_format"], preference, dtype="int64")
    df = df.sort_values(["_rank", "source_file", "source_row"], kind="stable", ignore_index=True)
    duplicate = np.zeros(len(df), dtype=bool)
    if enabled:
        coarse = [p.name for p in candidates if getattr(p, "day_precision", False)]
        duplicate, df["msg_id"] = find_duplicates(df, df["source_format"].isin(coarse).to_numpy())
    per_file = {k: int(v) for k, v in df.loc[duplicate, "source_file"].value_counts().items()}
    kept = df.loc[~duplicate].sort_values(
        ["chat_id", "ts", "_rank", "source_file", "source_row"], kind="stable"
    )
    kept = kept.drop(columns="_rank").reset_index(drop=True)
    kept["msg_id"] = assign_ids(kept)
    return kept, per_file


def run(cfg: DictConfig, input_dir: Path) -> IngestResult:
    """Read every export under `input_dir` into the unified message table and its report."""
    icfg = cfg.ingest
    self_names = frozenset(icfg.get("self_names", ["我"]))
    ctx = ParseContext(ZoneInfo(icfg.timezone), Contacts(), input_dir, self_names=self_names)
    candidates = parsers()
    claimed, failed, ignored = claim_files(input_dir, candidates, ctx)
    results = parse_files(claimed, ctx, failed)
    for rel, why in failed.items():
        log.warning("ingest: skipped %s: %s", rel, why)
    frames = [r.frame for r in results if len(r.frame)]
    if not frames:
        problems = "\n".join(f"  {rel}: {why}" for rel, why in failed.items()) or "  (no export files found)"
        raise StageError(
            f"no messages read from {input_dir}:\n{problems}\n"
            f"Put chat exports there (any nesting). Supported formats: {SUPPORTED}"
        )

    df = pd.concat(frames, ignore_index=True)
    df, chat_stats = resolve_chats(df, ctx.contacts)
    df, speaker_stats = resolve_speakers(df, ctx.contacts)
    kept, duplicates = deduplicate(df, candidates, bool(icfg.get("dedupe", True)))
    report = build_report(icfg, results, kept, duplicates, failed, ignored, chat_stats, speaker_stats)
    return IngestResult(kept[COLUMNS], report, contacts_record(ctx.contacts))


def build_report(
    icfg: DictConfig,
    results: list[_FileResult],
    kept: pd.DataFrame,
    duplicates_per_file: dict[str, int],
    failed: dict[str, str],
    ignored: Counter,
    chat_stats: dict,
    speaker_stats: dict,
) -> dict:
    """report.json: per-file accounting (rows_read == kept + dropped + duplicates), totals, the
    assumed time zone, and identity counts. Counts, paths, formats and reasons only."""
    examples = int(icfg.get("report_dropped_examples", 20))
    kinds_per_file: dict[str, dict[str, int]] = defaultdict(dict)
    for (path, kind), n in kept.groupby(["source_file", "kind"]).size().items():
        kinds_per_file[path][kind] = int(n)
    files = {}
    for r in results:
        dropped = Counter(d.reason for d in r.dropped)
        notes = dict(r.notes)
        if r.role == "contacts":
            rows_read = int(notes.pop("rows_read", 0)) + sum(dropped.values())
            entry = {"format": r.format, "role": r.role, "rows_read": rows_read}
            entry |= {"kept": rows_read - sum(dropped.values()), "kept_by_kind": {}}
        else:
            duplicates = int(duplicates_per_file.get(r.path, 0))
            entry = {"format": r.format, "role": r.role, "rows_read": len(r.frame) + sum(dropped.values())}
            entry |= {"kept": len(r.frame) - duplicates, "kept_by_kind": kinds_per_file.get(r.path, {})}
        entry["dropped"] = dict(dropped)
        entry["duplicates"] = int(duplicates_per_file.get(r.path, 0))
        if notes:
            entry["notes"] = notes
        if r.dropped:
            entry["dropped_rows"] = [
                {"row": d.source_row, "reason": d.reason, "detail": d.detail}
                for d in sorted(r.dropped, key=lambda d: d.source_row)[:examples]
            ]
        files[r.path] = entry
    messages = [f for f in files.values() if f["role"] == "messages"]
    dropped_total: Counter[str] = Counter()
    for f in messages:
        dropped_total.update(f["dropped"])
    return {
        "timezone": {
            "zone": icfg.timezone,
            "applies_to": "times written without an offset (CSV/TXT local times); "
            "Unix and RFC 3339 times keep their instant and are shown in this zone",
        },
        "totals": {
            "files_read": len(results),
            "files_failed": len(failed),
            "files_ignored": sum(ignored.values()),
            "rows_read": sum(f["rows_read"] for f in messages),
            "kept": len(kept),
            "dropped": sum(dropped_total.values()),
            "duplicates": sum(f["duplicates"] for f in messages),
            "kept_by_kind": {k: int(v) for k, v in kept["kind"].value_counts().sort_index().items()},
            "dropped_by_reason": dict(sorted(dropped_total.items())),
        },
        "chats": chat_stats,
        "speakers": speaker_stats,
        "files": files,
        "files_failed": failed,
        "files_ignored": {"by_extension": dict(sorted(ignored.items()))},
    }
