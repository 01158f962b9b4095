"""Which parsers ingest knows, in the order they are asked to claim a file.

The decrypted-database parsers live in `wechat_db` and are picked up when that module provides
them; ingest works without them.
"""

from __future__ import annotations

import importlib
import logging

from pipelines.ingest.formats import Parser
from pipelines.ingest.formats.chatlog import ChatlogCsv, ChatlogJson, ChatlogText
from pipelines.ingest.formats.memotrace import MemoTraceChatTxt, MemoTraceCsv, MemoTraceTxt
from pipelines.ingest.formats.pywxdump import PyWxDumpCsv, PyWxDumpJson, PyWxDumpUsers

log = logging.getLogger("still.ingest")

WECHAT_DB_MODULE = "pipelines.ingest.formats.wechat_db"
WECHAT_DB_PARSERS = ("WeChat3Contacts", "WeChat4Contacts", "WeChat3Db", "WeChat4Db")

# What users are told when a file is not recognised.
SUPPORTED = (
    "MemoTrace CSV (<remark>_utf8.csv, messages.csv), MemoTrace TXT (<remark>.txt, <remark>_chat.txt), "
    "PyWxDump CSV/JSON (+ users.json), chatlog CSV/JSON/text, "
    "decrypted WeChat databases (MSG*.db + MicroMsg.db, message_N.db + contact.db)"
)

# When two exports hold the same message, the copy from the earlier format here is kept:
# PyWxDump carries server ids and wxids, the text formats the least (databases rank above all).
PREFERENCE = (
    "pywxdump_csv",
    "pywxdump_json",
    "chatlog_json",
    "memotrace_csv",
    "chatlog_csv",
    "chatlog_text",
    "memotrace_txt",
    "memotrace_chat_txt",
)


def _wechat_db_parsers() -> list[Parser]:
    """The database parsers, if their module exists yet (another part of the project)."""
    try:
        module = importlib.import_module(WECHAT_DB_MODULE)
    except ImportError as e:
        if getattr(e, "name", None) != WECHAT_DB_MODULE:  # present but broken: say so, read the rest
            log.warning("ingest: database parsers unavailable (%s); other formats are read", e)
        return []
    found = [getattr(module, name) for name in WECHAT_DB_PARSERS if hasattr(module, name)]
    return [p() if isinstance(p, type) else p for p in found]


def parsers() -> list[Parser]:
    """Every parser, most specific first (the first whose `sniff` says yes reads the file)."""
    return [
        PyWxDumpUsers(),
        *_wechat_db_parsers(),
        MemoTraceCsv(),
        PyWxDumpCsv(),
        ChatlogCsv(),
        PyWxDumpJson(),
        ChatlogJson(),
        MemoTraceChatTxt(),
        MemoTraceTxt(),
        ChatlogText(),
    ]


def preference(format_name: str) -> int:
    """Rank of a format when choosing which copy of a duplicated message to keep (lower wins).
    Formats not listed rank first: they are the database readers, whatever they call themselves."""
    return PREFERENCE.index(format_name) if format_name in PREFERENCE else -1
