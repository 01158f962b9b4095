"""demo_data: a fictional persona's WeChat exports, deterministic for a seed and written byte for
byte the way MemoTrace, PyWxDump and chatlog write them (wechat-formats.md)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipelines.demo_data import DemoExport, generate
from pipelines.demo_data.__main__ import MARKER, main
from pipelines.demo_data.content import has_marker
from pipelines.stage import StageError, compose_config
from runtime.pii import id_number_valid, luhn_valid

REPO = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Shanghai")
KINDS = {
    *("text", "image", "voice", "video", "sticker", "link", "file", "quote", "location"),
    *("transfer", "red_packet", "system", "recall", "call"),
}


@pytest.fixture(scope="module")
def export() -> DemoExport:
    return generate(compose_config(["paths.data=/nonexistent"]))


def by_format(export: DemoExport, fmt: str) -> list[str]:
    """The files of one format, pages in order (`…_<start>_<end>.csv` sorts by start)."""

    def order(path: str) -> tuple:
        start = re.search(r"_(\d+)_\d+\.\w+$", path)
        return (path.rsplit("/", 1)[0], int(start.group(1)) if start else 0, path)

    return sorted((p for p, f in export.truth.files.items() if f == fmt), key=order)


def memotrace_rows(export: DemoExport) -> list[dict]:
    (path,) = by_format(export, "memotrace_csv")
    return list(csv.DictReader(io.StringIO(export.files[path].decode("utf-8-sig"), newline="")))


def pywxdump_csv_rows(export: DemoExport) -> list[dict]:
    rows = []
    for path in by_format(export, "pywxdump_csv"):
        rows += csv.DictReader(io.StringIO(export.files[path].decode("utf-8"), newline=""))
    return rows


def json_rows(export: DemoExport, fmt: str) -> list[dict]:
    return [r for path in by_format(export, fmt) for r in json.loads(export.files[path])]


# ---------------------------------------------------------------- determinism and layout


def test_same_seed_same_bytes_other_seed_other_bytes(export):
    again = generate(compose_config(["paths.data=/elsewhere"]))
    assert again.files == export.files
    assert again.truth == export.truth
    other = generate(compose_config(["paths.data=/nonexistent", "demo_data.seed=8"]))
    assert other.files.keys() != export.files.keys() or other.files != export.files
    assert all(other.files.get(p) != data for p, data in export.files.items() if not p.endswith("users.json"))


def test_paths_mirror_the_tools(export):
    files = export.truth.files
    assert files == {p: files[p] for p in export.files}  # every file is accounted for
    assert set(files.values()) == {
        "memotrace_csv",
        "pywxdump_csv",
        "pywxdump_json",
        "pywxdump_users",
        "chatlog_json",
    }
    family, garden, private = (c["id"] for c in export.truth.chats)
    owner = export.truth.owner
    assert files["memotrace/聊天记录/陈家大院/陈家大院_utf8.csv"] == "memotrace_csv"
    pywxdump = f"pywxdump/export/{owner}"
    n = len(pywxdump_csv_rows(export))  # one page: PyWxDump names it for N+1 rows
    assert files[f"{pywxdump}/csv/{family}/{family}_0_{n + 1}.csv"] == "pywxdump_csv"
    assert files[f"{pywxdump}/csv/{family}/users.json"] == "pywxdump_users"
    n = len(json_rows(export, "pywxdump_json"))
    assert files[f"{pywxdump}/json/{private}/{private}_0_{n + 1}.json"] == "pywxdump_json"
    assert files[f"pywxdump/export/{owner}/json/{private}/users.json"] == "pywxdump_users"
    (chatlog,) = by_format(export, "chatlog_json")
    assert chatlog.startswith("chatlog/阳台花友会_") and garden in export.files[chatlog].decode()


def test_pywxdump_pages_of_page_rows():
    paged = generate(compose_config(["paths.data=/nonexistent", "demo_data.pywxdump_page_rows=300"]))
    pages = by_format(paged, "pywxdump_csv")
    assert len(pages) > 1
    for i, page in enumerate(pages):
        assert page.endswith(f"_{300 * i}_{300 * (i + 1)}.csv")
    ids = [int(r["id"]) for r in pywxdump_csv_rows(paged)]
    assert ids == list(range(1, len(ids) + 1))  # numbering runs on across pages


def test_memotrace_csv_bytes(export):
    data = export.files[by_format(export, "memotrace_csv")[0]]
    header = (
        b"localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    )
    assert data.startswith(b"\xef\xbb\xbf" + header + b"\r\n")  # utf-8-sig, csv.writer's CRLF
    assert data.endswith(b"\r\n")
    rows = memotrace_rows(export)
    assert all(len(r) == 12 and None not in r for r in rows)
    assert any("\n" in r["StrContent"] for r in rows)  # multi-line XML inside quoted fields
    assert all(r["StrContent"] == "" for r in rows if r["Type"] == "49")  # CompressContent not written
    assert all(r["Sender"] == r["Remark"] == r["NickName"] == "" for r in rows if r["Type"] == "10000")
    own = [r for r in rows if r["IsSender"] == "1"]
    assert own and {r["Sender"] for r in own} == {export.truth.owner}
    persona = [r for r in rows if r["Sender"] == export.truth.persona]
    assert {(r["Remark"], r["NickName"]) for r in persona} == {("外婆", "Meilan 🌻")}
    for r in rows:
        local = datetime.fromtimestamp(int(r["CreateTime"]), TZ).strftime("%Y-%m-%d %H:%M:%S")
        assert r["StrTime"] == local
    assert [int(r["localId"]) for r in rows] == sorted(int(r["localId"]) for r in rows)


def test_pywxdump_files_bytes(export):
    for path in by_format(export, "pywxdump_csv"):
        data = export.files[path]
        assert data.startswith(b"id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\r\n")
        assert not data.startswith(b"\xef\xbb\xbf")
    rows = pywxdump_csv_rows(export)
    assert [int(r["id"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["CreateTime"]) for r in rows)
    assert all(r["room_name"].endswith("@chatroom") for r in rows)
    for path in by_format(export, "pywxdump_json") + by_format(export, "pywxdump_users"):
        data = export.files[path]
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # Windows text mode
    records = json_rows(export, "pywxdump_json")
    keys = [
        "id",
        "MsgSvrID",
        "type_name",
        "is_sender",
        "talker",
        "room_name",
        "msg",
        "src",
        "extra",
        "CreateTime",
    ]
    assert all(list(r) == keys for r in records)
    users = json.loads(export.files[by_format(export, "pywxdump_users")[0]])
    family = export.truth.chats[0]
    assert users[family["id"]]["nickname"] == family["name"]  # the group's own entry names it
    assert users[export.truth.persona]["remark"] == "外婆"


def test_chatlog_json_is_go_encoded(export):
    data = export.files[by_format(export, "chatlog_json")[0]].decode("utf-8")
    assert data.startswith('[{"seq":') and "\n" not in data.replace("\\n", "")
    assert "<" not in data and ">" not in data and "&" not in data and "\\u003c" in data
    records = json.loads(data)
    keys = ["seq", "time", "talker", "talkerName", "isChatRoom", "sender", "senderName", "isSelf"]
    assert all(list(r)[:8] == keys and list(r)[8:11] == ["type", "subType", "content"] for r in records)
    assert all(datetime.fromisoformat(r["time"]).utcoffset().total_seconds() == 8 * 3600 for r in records)
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    quotes = [r for r in records if r["type"] == 49 and r["subType"] == 57]
    assert quotes and all(r["contents"]["refer"]["content"] for r in quotes)


def test_raw_xml_bodies_parse(export):
    bodies = [r["StrContent"] for r in memotrace_rows(export) if r["StrContent"].startswith("<")]
    bodies += [
        r["content"]
        for r in json_rows(export, "chatlog_json")
        if r["type"] not in (1, 10000) and r["content"].startswith("<")
    ]
    assert len(bodies) > 100
    for body in bodies:
        ET.fromstring(body.strip())


# ---------------------------------------------------------------- content


def test_every_kind_and_mentions_appear(export):
    counts = export.truth.counts
    assert set(counts["per_kind"]) == KINDS
    assert all(n > 0 for n in counts["per_kind"].values())
    assert 3000 <= counts["messages"] <= 6000
    assert sum(counts["per_chat"].values()) == counts["messages"]
    assert counts["rows_written"] == counts["messages"] + counts["family_overlap"]
    assert sum(counts["per_format"].values()) == counts["rows_written"]
    names = {r["type_name"] for r in json_rows(export, "pywxdump_json") + pywxdump_csv_rows(export)}
    assert {"文本", "图片", "语音", "引用回复", "转账", "语音通话"} <= names
    private = json_rows(export, "pywxdump_json")
    voices = [r for r in private if r["type_name"] == "语音" and r["talker"] == export.truth.persona]
    assert voices and any("\n翻译结果：" in r["msg"] for r in voices)
    texts = [r["StrContent"] for r in memotrace_rows(export)] + [
        r["content"] for r in json_rows(export, "chatlog_json")
    ]
    assert any(re.search(r"@\S[^@]*?\u2005", t) for t in texts)
    pats = [t for t in texts if "拍了拍" in t]
    assert pats and any("邀请" in t and "加入了群聊" in t for t in texts)


def test_pii_well_formed_and_present(export):
    blob = "\n".join(data.decode("utf-8") for data in export.files.values())
    pii = export.truth.pii
    by_entity = Counter(v["entity"] for v in pii)
    assert {"PHONE", "ID_NUMBER", "BANK_CARD", "EMAIL", "ADDRESS", "PLATE", "WECHAT_ID", "QQ"} <= set(
        by_entity
    )
    for v in pii:
        if v["entity"] == "ID_NUMBER":
            assert id_number_valid(v["value"].replace(" ", "")), v
        if v["entity"] == "BANK_CARD":
            assert luhn_valid(v["value"]), v
    cards = {len(v["value"].replace(" ", "")) for v in pii if v["entity"] == "BANK_CARD"}
    assert {16, 19} <= cards and any(" " in v["value"] for v in pii if v["entity"] == "BANK_CARD")
    phones = [v["value"] for v in pii if v["entity"] == "PHONE"]
    assert any(p.startswith("+86 ") for p in phones) and any(re.fullmatch(r"1\d{10}", p) for p in phones)
    assert any(re.fullmatch(r"1\d\d-\d{4}-\d{4}", p) for p in phones)
    assert re.search(r"发到[a-z0-9.]+@example\.org吧", blob)  # an email glued to Chinese characters
    values = export.truth.sensitive_values()
    assert len(values) == len(set(values)) and all(isinstance(v, str) and v for v in values)
    assert [v for v in values if v not in blob] == []  # every seeded value really is in the exports
    assert {"wxid_meilan_chen01", "wxid_tomzhao_garden", "Tom Zhao", "赵汤姆", "刘芳医生"} <= set(values)


def test_excluded_third_party_speaks_and_is_mentioned(export):
    records = json_rows(export, "chatlog_json")
    tom = "wxid_tomzhao_garden"
    assert export.truth.excluded == [tom]
    assert sum(r["sender"] == tom for r in records) > 20
    mentions = [r["content"] for r in records if r["sender"] != tom and r["type"] == 1]
    assert any("Tom Zhao" in t for t in mentions) and any("赵汤姆" in t for t in mentions)


def persona_texts(export: DemoExport) -> list[str]:
    me = export.truth.persona
    texts = [
        r["msg"] for r in json_rows(export, "pywxdump_json") if r["talker"] == me and r["type_name"] == "文本"
    ]
    texts += [r["content"] for r in json_rows(export, "chatlog_json") if r["sender"] == me and r["type"] == 1]
    texts += [r["StrContent"] for r in memotrace_rows(export) if r["Sender"] == me and r["Type"] == "1"]
    return texts


def test_persona_style_is_distinctive_and_learnable(export):
    texts = persona_texts(export)
    assert len(texts) > 800
    assert sum(map(has_marker, texts)) / len(texts) >= 0.6
    assert sum(t.startswith("Aiyo~") for t in texts) / len(texts) >= 0.3
    assert statistics.mean(len(t.split()) for t in texts) <= 10
    letters = "".join(ch for t in texts for ch in t if ch.isascii() and ch.isalpha())
    assert sum(ch.islower() for ch in letters) / len(letters) >= 0.9
    assert 0.05 <= sum(bool(re.search(r"[\u4e00-\u9fff]", t)) for t in texts) / len(texts) <= 0.5
    others = [r["msg"] for r in json_rows(export, "pywxdump_json") if r["talker"] == export.truth.owner]
    assert sum(map(has_marker, others)) / len(others) < 0.4  # the habits are hers, not everyone's


def test_persona_facts_repeat_months_apart(export):
    facts = export.truth.persona_facts
    assert {f["key"] for f in facts} >= {"pet", "hometown", "former_job", "running_joke", "plan_trip"}
    for fact in facts:
        dates = sorted(datetime.fromisoformat(s["date"]) for s in fact["statements"])
        assert len(dates) >= 3 and (dates[-1] - dates[0]).days >= 60, fact["key"]
        assert all(fact["value"].lower() in s["text"].lower() for s in fact["statements"]), fact["key"]


def test_memory_questions_are_held_out_and_answerable(export):
    """The questions are never asked in the chats; their answers are in what the persona said."""
    chats = b"\n".join(export.files.values()).decode("utf-8", errors="replace").lower()
    questions = export.truth.memory_questions
    assert len(questions) >= 12 and len({q["fact"] for q in questions}) >= 6
    for q in questions:
        assert q["question"].lower() not in chats, q["id"]
        assert all(e.lower() in chats for e in q["evidence"]), q["id"]
        assert any(a.lower() in e.lower() for a in q["answers"] for e in q["evidence"]), q["id"]


def test_family_exports_overlap(export):
    """The same messages in both family exports: ingest must keep one copy of each."""
    early = Counter((int(r["CreateTime"]), r["Sender"] or "系统") for r in memotrace_rows(export))
    late = Counter(
        (
            int(datetime.strptime(r["CreateTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=TZ).timestamp()),
            r["talker"],
        )
        for r in pywxdump_csv_rows(export)
    )
    shared = sum((early & late).values())
    assert shared == export.truth.counts["family_overlap"] > 100
    assert len(early) > shared and len(late) > shared  # each export also has messages of its own


def test_family_exports_must_overlap():
    with pytest.raises(StageError, match="family_pywxdump_from"):
        generate(compose_config(["paths.data=/nonexistent", "demo_data.family_memotrace_until=0.3"]))


# ---------------------------------------------------------------- the stage


def test_stage_writes_the_generated_files_and_replaces_them(make_cfg, data_dir):
    chats = data_dir / "raw" / "chats"
    stray = chats / "old_demo_leftover.csv"
    (chats / MARKER).write_text("from an earlier run\n")
    stray.write_text("x")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pipelines.demo_data", f"paths.data={data_dir}"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = generate(make_cfg()).files
    written = {str(p.relative_to(chats)): p.read_bytes() for p in chats.rglob("*") if p.is_file()}
    assert written.pop(MARKER).startswith(b"Fictional demo data")
    assert (data_dir / "raw" / "audio" / MARKER).exists() and (data_dir / "raw" / "photos" / MARKER).exists()
    camera = data_dir / "raw" / "camera"
    assert (camera / MARKER).exists() and {"demo_call.mp4", "demo_call.json"} <= {
        p.name for p in camera.iterdir()
    }
    assert written == expected  # the leftover is gone: the folder was replaced as a whole


def test_stage_refuses_to_overwrite_foreign_exports(data_dir):
    mine = data_dir / "raw" / "chats" / "my_real_export.csv"
    mine.write_text("localId,TalkerId\n")
    with pytest.raises(StageError, match="did not write"):
        main([f"paths.data={data_dir}"])
    assert mine.read_text() == "localId,TalkerId\n"
