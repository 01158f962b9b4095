"""Reading text exports robustly: encodings, CSV records, times.

Exports come from Windows tools, get re-saved by spreadsheets and copied around, so readers must
cope with a BOM or none, CRLF or LF, quoted newlines, a truncated tail, or a GBK re-save, and say
exactly which row they could not read.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from pipelines.ingest.formats import ExportError, ParseContext
from pipelines.ingest.schema import Dropped

BOM = b"\xef\xbb\xbf"


def head_text(head: bytes) -> str:
    """The first bytes of a file as text for sniffing (BOM dropped, undecodable bytes replaced)."""
    return head.removeprefix(BOM).decode("utf-8", errors="replace")


def first_line(head: bytes) -> str:
    """The first line of a file (for recognising CSV headers)."""
    return head_text(head).split("\n", 1)[0].rstrip("\r")


def decode(data: bytes, rel: str, ctx: ParseContext) -> str:
    """Bytes of a text export as str. UTF-8 (with or without BOM) is expected; a file re-saved as
    GBK is read as GB18030 (its superset) and the report says so. Anything else is an error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data" and e.start >= len(data) - 3:
            # A copy cut off inside the last character: keep everything before it.
            ctx.note("truncated_last_character")
            return data.decode("utf-8-sig", errors="replace")
        first_bad = e.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise ExportError(
            f"{rel}: not UTF-8 or GBK text (undecodable byte at offset {first_bad}); "
            "re-export it as UTF-8 (or check that it is really a chat export)"
        ) from None
    ctx.notes["encoding"] = "gb18030"
    return text


def read_text(path: Path, ctx: ParseContext) -> str:
    """A whole text export, decoded (see `decode`); empty files are an error."""
    data = path.read_bytes()
    if not data.removeprefix(BOM).strip():
        raise ExportError(f"{ctx.rel(path)}: empty file")
    return decode(data, ctx.rel(path), ctx)


def blocks(text: str, header: re.Pattern) -> list[tuple[re.Match, list[str]]]:
    """The records of a plain-text export: each starts with a `header` line at the top of the file
    or after an empty line, and runs to the next one (trailing blank lines dropped). A message that
    itself contains an empty line stays one record: what follows it is not a header."""
    out: list[tuple[re.Match, list[str]]] = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        first, _, rest = chunk.lstrip("\n").partition("\n")
        if m := header.fullmatch(first):
            out.append((m, rest.split("\n") if rest else []))
        elif out:
            out[-1][1].extend(["", *chunk.split("\n")])
    for _, body in out:
        while body and not body[-1].strip():
            body.pop()
    return out


@dataclass
class CsvRows:
    """A CSV export's records as string columns named by its header."""

    frame: pd.DataFrame  # one str column per header field, RangeIndex
    rows: np.ndarray  # 1-based record number of each frame row (header not counted)
    dropped: list[Dropped] = field(default_factory=list)


def read_csv(path: Path, ctx: ParseContext, short_widths: tuple[int, ...] = ()) -> CsvRows:
    """Every record of a CSV export. Rows with `short_widths` fields (older variants that omit
    trailing columns) are padded with ""; other rows of the wrong width, a truncated last row and
    an unterminated quote become `Dropped` naming the record. Empty or undecodable files raise
    `ExportError`."""
    rel = ctx.rel(path)
    data = path.read_bytes()
    if not data.removeprefix(BOM).strip():
        raise ExportError(f"{rel}: empty file")
    # Fast path: Arrow's multithreaded reader, when every row is well-formed UTF-8.
    fast = _arrow_rows(data)
    if fast is not None:
        return fast
    text = decode(data, rel, ctx)
    if "encoding" in ctx.notes:
        fast = _arrow_rows(text.encode("utf-8"))
        if fast is not None:
            return fast
    return _exact_rows(text, rel, short_widths)


def _arrow_rows(data: bytes) -> CsvRows | None:
    """The records via pyarrow, or None when any row is malformed or not UTF-8 (the exact reader
    then says which)."""
    header = next(csv.reader([data.removeprefix(BOM).split(b"\n", 1)[0].decode("utf-8", "replace")]), [])
    if not header or len(set(header)) != len(header):
        return None
    invalid = []

    def on_invalid(row) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(block_size=16 << 20),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    if invalid or table.column_names != header:
        return None
    frame = table.to_pandas()
    return CsvRows(frame, np.arange(1, len(frame) + 1, dtype="int64"))


def _exact_rows(text: str, rel: str, short_widths: tuple[int, ...]) -> CsvRows:
    """The records via the csv module, row by row, so bad rows can be named and skipped."""
    records: list[tuple[int, list[str]]] = []
    unterminated = False
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = [(reader.line_num, row) for row in reader if row]
    except csv.Error as e:
        if "end of data" in str(e):  # EOF inside a quoted field: the file was cut off
            unterminated = True
            records = []
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            try:
                for row in reader:
                    if row:
                        records.append((reader.line_num, row))
            except csv.Error:
                pass
        else:  # stray quote inside a field: read it the forgiving way, widths are checked below
            reader = csv.reader(io.StringIO(text, newline=""))
            records = [(reader.line_num, row) for row in reader if row]
    if not records:
        raise ExportError(f"{rel}: no CSV header (the file may be cut off at its first line)")
    header = records[0][1]
    width = len(header)
    keep: list[list[str]] = []
    numbers: list[int] = []
    dropped: list[Dropped] = []
    last_line = records[-1][0]
    for number, (line, row) in enumerate(records[1:], start=1):
        n = len(row)
        if n == width or n in short_widths:
            keep.append(row + [""] * (width - n))
            numbers.append(number)
            continue
        if n < width and line == last_line and not unterminated and not text.endswith(("\n", "\r")):
            reason, why = "truncated_row", "the file ends in the middle of this record"
        else:
            reason, why = "wrong_field_count", f"{n} fields where the header has {width}"
        dropped.append(Dropped(rel, number, reason, f"record {number} (line {line}): {why}"))
    if unterminated:
        number = len(records)
        dropped.append(
            Dropped(
                rel,
                number,
                "unterminated_quote",
                f"record {number} (after line {last_line}): a quoted field never closes — "
                "the file is probably cut off",
            )
        )
    frame = pd.DataFrame(keep or None, columns=header, dtype="str")
    return CsvRows(frame, np.asarray(numbers, dtype="int64"), dropped)


def rows_dropped(rel: str, rows: np.ndarray, mask: pd.Series, reason: str, what: str) -> list[Dropped]:
    """One `Dropped` per row flagged in `mask` (`rows` holds the record numbers)."""
    return [Dropped(rel, int(r), reason, f"record {r}: {what}") for r in rows[mask.to_numpy()]]


# ---- times ----

LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")
MINUTE_FORMATS = frozenset({"%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"})


def local_times(values: pd.Series, tz: tzinfo, ctx: ParseContext | None = None) -> pd.Series:
    """Naive local time strings (as the exporting PC wrote them) -> aware times in `tz`; NaT where
    no known format matches. Counts minute-only times (spreadsheet re-saves) in the notes."""
    values = values.astype("str").str.strip()
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    todo = pd.Series(True, index=values.index)
    for fmt in LOCAL_FORMATS:
        if not todo.any():
            break
        got = pd.to_datetime(values[todo], format=fmt, errors="coerce")
        hit = got.notna()
        parsed[got.index[hit]] = got[hit]
        todo[got.index[hit]] = False
        if ctx is not None and fmt in MINUTE_FORMATS:
            ctx.note("time_to_the_minute", int(hit.sum()))
    return _localize(parsed, tz)


def _localize(naive: pd.Series, tz: tzinfo) -> pd.Series:
    # Where a clock change makes a local time ambiguous take the earlier instant; skipped ones move on.
    return naive.dt.tz_localize(tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward")


def numbers(values: pd.Series) -> pd.Series:
    """A numeric column from strings, NaN where a value is not a number."""
    try:  # fast path: every value an integer, as in well-formed exports
        return values.astype("int64").astype("float64")
    except (ValueError, TypeError, OverflowError):
        return pd.to_numeric(values, errors="coerce").astype("float64")


def unix_times(values: pd.Series, tz: tzinfo) -> pd.Series:
    """Unix timestamps (seconds, or milliseconds when that large) -> aware times; NaT if not numbers."""
    seconds = numbers(values)
    seconds = seconds.where(seconds < 1e11, seconds / 1000)
    return pd.to_datetime(seconds, unit="s", utc=True, errors="coerce").dt.tz_convert(tz)


def iso_times(values: pd.Series, tz: tzinfo) -> pd.Series:
    """RFC 3339 times with an offset keep their instant; ones without an offset are local to `tz`."""
    values = values.astype("str")
    aware = values.str.contains(r"(?:[zZ]|[+-]\d\d:?\d\d)$", regex=True)
    out = pd.to_datetime(values.where(aware), utc=True, format="ISO8601", errors="coerce").dt.tz_convert(tz)
    if (~aware).any():
        naive = pd.to_datetime(values.where(~aware), format="ISO8601", errors="coerce")
        out = out.where(aware, _localize(naive, tz))
    return out


def any_times(values: pd.Series, tz: tzinfo, ctx: ParseContext | None = None) -> pd.Series:
    """Times as exports write them, whichever form: local strings (see `local_times`), Unix
    seconds, or RFC 3339 with an offset. NaT where none fits."""
    out = local_times(values, tz, ctx)
    todo = out.isna() & (values.astype("str").str.strip() != "")
    if todo.any():
        rest = values[todo].astype("str").str.strip()
        numeric = rest.str.fullmatch(r"\d{9,13}(?:\.\d+)?")
        found = unix_times(rest.where(numeric), tz).where(numeric, iso_times(rest, tz))
        out = out.where(~todo, found.reindex(out.index))
    return out


def local_time(text: str, tz: tzinfo) -> datetime | None:
    """One naive local time string -> aware datetime in `tz` (None if unparseable)."""
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    except ValueError:
        pass
    for fmt in LOCAL_FORMATS[1:]:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    return None
