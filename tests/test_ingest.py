"""ingest as a whole: one id per person and chat across formats, duplicates kept once, every input
row accounted for in report.json, clear errors for bad files, the command-line entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from ingest_fixtures import (
    AUNT,
    DAD,
    GROUP_ID,
    GROUP_NAME,
    ME,
    MOM,
    TZ,
    Msg,
    at,
    chatlog_csv,
    chatlog_text,
    family_group,
    memotrace_csv,
    memotrace_txt,
    private_chat,
    pywxdump_csv,
    pywxdump_users,
)

from pipelines.ingest import run
from pipelines.ingest.formats import registry
from pipelines.ingest.schema import COLUMNS
from pipelines.stage import StageError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def chats(data_dir: Path) -> Path:
    return data_dir / "raw" / "chats"


@pytest.fixture
def ingest(make_cfg, chats):
    def go(*overrides: str):
        return run(make_cfg(*overrides), chats)

    return go


def assert_accounted(report: dict) -> None:
    """Every input row is kept, dropped with a reason, or a duplicate — per file and in total."""
    messages = [f for f in report["files"].values() if f["role"] == "messages"]
    for f in report["files"].values():
        assert f["rows_read"] == f["kept"] + sum(f["dropped"].values()) + f["duplicates"], f
        assert sum(f["kept_by_kind"].values()) == (f["kept"] if f["role"] == "messages" else 0), f
    totals = report["totals"]
    assert totals["rows_read"] == totals["kept"] + totals["dropped"] + totals["duplicates"]
    assert totals["kept"] == sum(f["kept"] for f in messages)


# ---- one speaker id, one chat id ----


def test_a_name_only_export_resolves_to_the_wxids_another_export_shows(chats, ingest):
    memotrace_csv(chats, GROUP_NAME, family_group()[:3], group=True)  # wxids beside names
    memotrace_txt(chats, GROUP_NAME, family_group()[3:])  # names only, "Tom Zhao" unsanitised
    result = ingest()
    df = result.messages
    by_name = df.drop_duplicates(["sender_name", "sender_id"]).set_index("sender_name")["sender_id"].to_dict()
    assert by_name == {
        "妈妈": MOM.wxid,
        "小明": ME.wxid,
        "爸爸": "name:爸爸",
        "Tom Zhao": "name:Tom Zhao",
        "": "",
    }
    # Dad spoke only in the TXT: nothing ties his name to a wxid, so a name-derived id, counted.
    assert result.report["speakers"]["names_unresolved"] == 2
    assert set(df["chat_id"]) == {"name:相亲相爱一家人"}  # same chat: the TXT is named like the CSV


def test_contacts_resolve_names_and_chat_names_across_three_formats(chats, ingest):
    pywxdump_users(chats, [ME, MOM, DAD, AUNT], {GROUP_ID: GROUP_NAME})
    pywxdump_csv(chats, GROUP_ID, family_group()[:4])
    memotrace_txt(chats, GROUP_NAME, family_group()[4:8])
    chatlog_csv(chats, "family", GROUP_ID, GROUP_NAME, family_group()[8:])
    result = ingest()
    df = result.messages
    assert set(df["chat_id"]) == {GROUP_ID} and set(df["chat_name"]) == {GROUP_NAME}
    speakers = df.loc[df["sender_id"] != "", "sender_id"]
    assert set(speakers) == {MOM.wxid, ME.wxid, DAD.wxid, AUNT.wxid}  # Tom_Zhao/Tom Zhao: one person
    assert result.report["chats"]["chat_ids_resolved_from_names"] == 1
    assert result.report["speakers"]["rows_with_name_only_id"] == 0


def test_a_txt_named_by_remark_joins_the_private_chat_a_csv_shows_by_wxid(chats, ingest):
    memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    memotrace_txt(chats, "妈妈", private_chat())  # the TXT export drops locations and transfers
    result = ingest()
    assert set(result.messages["chat_id"]) == {MOM.wxid} and len(result.messages) == 5
    assert result.report["files"]["聊天记录/妈妈/妈妈.txt"]["duplicates"] == 3


def test_own_messages_get_the_owner_wxid_wherever_it_is_shown(chats, ingest):
    memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)  # own rows carry wxid_me
    chatlog_text(chats, MOM.wxid, [Msg(at(5, 9, 0), ME, "早"), Msg(at(5, 9, 1), MOM, "早啊")])
    df = ingest().messages
    assert set(df.loc[df["is_self"], "sender_id"]) == {ME.wxid}
    assert set(df["chat_id"]) == {MOM.wxid}


# ---- duplicates ----


def test_overlapping_exports_of_one_chat_in_two_formats_are_kept_once(chats, ingest):
    group = family_group()
    pywxdump_csv(chats, GROUP_ID, group[:7])  # server ids, wxids
    memotrace_csv(chats, GROUP_NAME, group[4:], group=True)  # overlaps on 3 messages
    pywxdump_users(chats, [ME, MOM, DAD, AUNT], {GROUP_ID: GROUP_NAME})
    result = ingest()
    df = result.messages
    assert len(df) == len(group)
    assert df["ts"].is_monotonic_increasing and set(df["chat_id"]) == {GROUP_ID}
    files = result.report["files"]
    assert files["聊天记录/相亲相爱一家人/相亲相爱一家人_utf8.csv"]["duplicates"] == 3
    assert files[next(p for p in files if p.endswith("_0_7.csv"))]["duplicates"] == 0
    # The copy kept is PyWxDump's (server ids); the rest got stable hash ids. All unique.
    assert df["msg_id"].iloc[:7].tolist() == [str(9001 + i) for i in range(7)]
    assert df["msg_id"].iloc[7:].str.startswith("h").all() and df["msg_id"].is_unique
    assert_accounted(result.report)


def test_the_same_message_twice_in_one_second_survives_a_second_export(chats, ingest):
    group = family_group()[:3]  # "好的妈…" sent twice in the same second
    memotrace_csv(chats, GROUP_NAME, group, group=True)
    memotrace_txt(chats, GROUP_NAME, group)
    result = ingest()
    assert result.messages["text"].tolist().count("好的妈，马上吃\n今天降温了") == 2
    assert result.report["totals"]["duplicates"] == 3


def test_the_same_export_copied_twice_is_deduplicated_by_server_id(chats, ingest):
    path = pywxdump_csv(chats, MOM.wxid, private_chat())
    copy = chats / "backup" / path.name
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    result = ingest()
    assert len(result.messages) == 5 and result.report["totals"]["duplicates"] == 5


def test_dedupe_can_be_switched_off(chats, ingest):
    path = pywxdump_csv(chats, MOM.wxid, private_chat())
    (chats / "again.csv").write_bytes(path.read_bytes())
    df = ingest("ingest.dedupe=false").messages
    assert len(df) == 10 and df["msg_id"].is_unique


# ---- times ----


def test_local_times_take_the_configured_zone_and_instants_keep_theirs(chats, ingest):
    memotrace_txt(chats, "妈妈", private_chat())  # local wall-clock times
    memotrace_csv(chats, "老爸", [Msg(at(2, 21, 0), DAD, "晚安")], group=False, partner=DAD)  # Unix seconds
    result = ingest("ingest.timezone=Europe/Berlin")
    df = result.messages.set_index("text")
    assert df.loc["吃饭了吗，孩子", "ts"] == pd.Timestamp("2024-03-02 20:00", tz="Europe/Berlin")
    assert df.loc["晚安", "ts"] == pd.Timestamp("2024-03-02 21:00", tz=TZ)
    assert str(result.messages["ts"].dt.tz) == "Europe/Berlin"
    assert result.report["timezone"]["zone"] == "Europe/Berlin"


# ---- bad input ----


def test_bad_files_are_reported_by_name_and_the_rest_is_read(chats, ingest):
    memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    (chats / "empty.csv").write_bytes(b"")
    (chats / "other.csv").write_text("date,amount,shop\r\n2024-01-01,3.50,超市\r\n", encoding="utf-8")
    (chats / "headerless.csv").write_text("妈妈,吃饭了吗\r\n", encoding="utf-8")
    (chats / "garbage.csv").write_bytes(bytes(range(256)) * 8)
    (chats / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (chats / ".DS_Store").write_bytes(b"\x00")
    result = ingest()
    assert len(result.messages) == 5
    failed = result.report["files_failed"]
    assert failed["empty.csv"] == "empty file"
    assert failed["other.csv"].startswith("unrecognised export format: header 'date,amount,shop' — supported")
    assert "MemoTrace CSV" in failed["other.csv"]
    assert "not shown" in failed["headerless.csv"] and "妈妈" not in failed["headerless.csv"]
    assert "binary content" in failed["garbage.csv"]
    assert result.report["files_ignored"] == {"by_extension": {".jpg": 1}}
    assert_accounted(result.report)


def test_a_truncated_csv_loses_only_its_broken_last_record(chats, ingest):
    path = memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    whole = path.read_bytes()
    cut = whole[: whole.rindex("谢谢妈".encode()) + 3]  # inside the last quoted text: quote never closes
    path.write_bytes(cut)
    result = ingest()
    assert len(result.messages) == 4
    entry = result.report["files"]["聊天记录/妈妈/妈妈_utf8.csv"]
    assert entry["dropped"] == {"unterminated_quote": 1}
    assert entry["dropped_rows"][0]["row"] == 5 and "cut off" in entry["dropped_rows"][0]["detail"]
    assert_accounted(result.report)


def test_a_short_last_row_is_dropped_as_truncated(chats, ingest):
    path = memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rindex(b',2,"')])  # the last record stops after CreateTime
    result = ingest()
    entry = result.report["files"]["聊天记录/妈妈/妈妈_utf8.csv"]
    assert entry["dropped"] == {"truncated_row": 1} and entry["kept"] == 4
    assert entry["dropped_rows"] == [
        {
            "row": 5,
            "reason": "truncated_row",
            "detail": "record 5 (line 6): the file ends in the middle of this record",
        }
    ]


def test_a_gbk_resaved_csv_is_read_as_gb18030_and_the_report_says_so(chats, ingest):
    path = memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    path.write_bytes(path.read_bytes().decode("utf-8-sig").encode("gbk", errors="replace"))  # as Excel does
    result = ingest()
    assert result.messages["text"].iloc[0] == "吃饭了吗，孩子"
    assert result.report["files"]["聊天记录/妈妈/妈妈_utf8.csv"]["notes"]["encoding"] == "gb18030"


def test_unreadable_rows_are_dropped_with_row_and_reason(chats, ingest):
    path = memotrace_csv(chats, "妈妈", private_chat(), group=False, partner=MOM)
    text = path.read_text(encoding="utf-8-sig").replace(str(int(at(2, 20, 1).timestamp())), "soon", 1)
    path.write_text(text.replace("2024-03-02 20:01:00", "later"), encoding="utf-8-sig", newline="")
    entry = ingest().report["files"]["聊天记录/妈妈/妈妈_utf8.csv"]
    assert entry["dropped"] == {"unparseable_time": 1}
    assert entry["dropped_rows"][0]["row"] == 2


def test_without_any_readable_export_the_stage_fails_saying_why(chats, ingest):
    (chats / "empty.csv").write_bytes(b"")
    (chats / "notes.txt").write_text("shopping list\n", encoding="utf-8")
    with pytest.raises(
        StageError, match=r"(?s)no messages read.*empty\.csv: empty file.*notes\.txt: unrecognised"
    ):
        ingest()


# ---- the report ----


def test_report_accounts_for_every_row_and_holds_no_content(chats, ingest):
    pywxdump_users(chats, [ME, MOM, DAD, AUNT], {GROUP_ID: GROUP_NAME})
    pywxdump_csv(chats, GROUP_ID, family_group())
    memotrace_csv(chats, "chat_a", family_group(), group=True)
    memotrace_txt(chats, "chat_b", family_group())
    chatlog_csv(chats, "chat_c", GROUP_ID, GROUP_NAME, family_group())
    memotrace_csv(chats, "chat_d", private_chat(), group=False, partner=MOM)
    result = ingest()
    assert_accounted(result.report)
    assert result.report["totals"]["kept_by_kind"]["text"] > 0
    # Paths may carry export folder names; everything else is counts, formats and reasons.
    body = json.dumps({k: v for k, v in result.report.items() if k != "files"}, ensure_ascii=False)
    body += json.dumps(list(result.report["files"].values()), ensure_ascii=False)
    secrets = [m.content for m in family_group() + private_chat()]
    secrets += [p.wxid for p in (ME, MOM, DAD, AUNT)] + [p.nickname for p in (ME, MOM, DAD, AUNT)]
    secrets += ["妈妈", "爸爸", GROUP_NAME, GROUP_ID, "200.00", "9001"]
    assert [s for s in secrets if s in body] == []


# ---- parsers from the database module, when it exists ----


def test_database_parsers_join_the_registry_when_their_module_provides_them(monkeypatch):
    fake = types.ModuleType(registry.WECHAT_DB_MODULE)

    class WeChat3Db:
        name = "wechat3_msg_db"
        role = "messages"

        def sniff(self, path, head):
            return False

    fake.WeChat3Db = WeChat3Db
    monkeypatch.setitem(sys.modules, registry.WECHAT_DB_MODULE, fake)
    names = [p.name for p in registry.parsers()]
    assert "wechat3_msg_db" in names and "memotrace_csv" in names
    assert registry.preference("wechat3_msg_db") < registry.preference("pywxdump_csv")


# ---- command line ----


def test_python_m_pipelines_ingest_writes_table_report_and_metrics(data_dir, chats):
    memotrace_csv(chats, GROUP_NAME, family_group(), group=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.ingest", f"paths.data={data_dir}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = data_dir / "interim" / "ingest"
    df = pd.read_parquet(out / "messages.parquet")
    assert list(df.columns) == COLUMNS and len(df) == 10
    assert str(df["ts"].dt.tz) == "Asia/Shanghai"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["kept"] == report["totals"]["kept"] == 10
    assert "10 messages kept" in r.stderr


def test_python_m_pipelines_ingest_fails_clearly_without_exports(data_dir):
    r = subprocess.run(
        [sys.executable, "-m", "pipelines.ingest", f"paths.data={data_dir}"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "no messages read" in r.stderr and "Traceback" not in r.stderr
