"""anonymize: the persona becomes <TARGET>, everyone else <U1>…, excluded speakers disappear, names
and PII in text become placeholders, and nothing raw reaches the outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_llm import build_tiny_tagger

from pipelines.anonymize import OUTPUT_COLUMNS, masking, run
from pipelines.ingest.schema import COLUMNS
from pipelines.stage import StageError
from runtime.person_tagger import MODEL_FILE as TAGGER_FILE

T0 = pd.Timestamp("2026-03-01 09:00", tz="Asia/Shanghai")
GRANDMA = "wxid_meilan_chen01"  # conf/subject.yaml's subject (names 陈美兰, 外婆, Meilan, …)
TOM = "wxid_tomzhao_garden"  # conf/subject.yaml's excluded speaker (Tom Zhao, 赵汤姆)


def table(rows: list[dict]) -> pd.DataFrame:
    """The ingest table from partial rows: sender_id/sender_name/text given, the rest defaulted
    (one group chat, a minute apart)."""
    defaults = {
        "source_file": "家人群.csv",
        "source_format": "memotrace_csv",
        "chat_id": "20001@chatroom",
        "chat_name": "陈家一家亲",
        "is_group": True,
        "is_self": False,
        "kind": "text",
        "quote_of": "",
        "quote_sender": "",
        "media_ref": "",
    }
    full = [
        {
            **defaults,
            "source_row": i + 1,
            "msg_id": f"70012345678900{i:04d}",
            "ts": T0 + pd.Timedelta(minutes=i),
            **r,
        }
        for i, r in enumerate(rows)
    ]
    return pd.DataFrame(full)[COLUMNS]


def msg(sender_id: str, sender_name: str, text: str, **extra) -> dict:
    return {"sender_id": sender_id, "sender_name": sender_name, "text": text, **extra}


FAMILY = [
    msg(GRANDMA, "外婆", "吃饭了吗"),
    msg("wxid_daughter_li", "李秀英", "吃了妈"),
    msg("wxid_grandson_hao", "浩浩", "外婆好"),
    msg("wxid_daughter_li", "秀英", "@外婆\u2005晚上视频"),
    msg(TOM, "Tom Zhao", "Hi everyone, this is Tom"),
    msg(GRANDMA, "外婆", "好的"),
]


@pytest.fixture
def cfg(make_cfg):
    return make_cfg()


# ----------------------------------------------------------------------------- subject


def test_subject_by_wxid(make_cfg):
    result = run(make_cfg(f"subject.ids=[{GRANDMA}]", "subject.names=[]"), table(FAMILY))
    df = result.messages
    assert df.loc[df["is_target"], "speaker"].unique().tolist() == ["<TARGET>"]
    assert df["is_target"].sum() == 2 == result.report["target_messages"]


def test_subject_by_any_name_or_alias(make_cfg):
    rows = [msg("name:陈美兰", "陈美兰", "今天降温"), msg("wxid_x1", "小王", "知道了")]
    result = run(make_cfg("subject.ids=[]", 'subject.names=["Grandma Mei","陈美兰"]'), table(rows))
    assert result.messages["is_target"].tolist() == [True, False]


def test_subject_is_the_exporting_account_with_self(make_cfg):
    rows = [msg("self", "我", "早", is_self=True), msg("wxid_x1", "小王", "早上好")]
    result = run(make_cfg("subject.ids=[]", "subject.names=[]", "subject.self=true"), table(rows))
    assert result.messages["speaker"].tolist() == ["<TARGET>", "<U1>"]


def test_a_subject_that_matches_nobody_stops_with_a_hint(make_cfg):
    cfg = make_cfg("subject.ids=[wxid_nobody]", 'subject.names=["无名"]')
    with pytest.raises(StageError, match=r"subject matches no sender in .*messages\.parquet") as e:
        run(cfg, table([msg("wxid_x1", "小王", "hi"), msg("wxid_x1", "小王", "hi again")]))
    assert "conf/subject.yaml" in str(e.value)
    assert "wxid_x1 (小王): 2 messages" in str(e.value)  # console only: the stage writes no report


def test_a_subject_without_messages_stops(make_cfg):
    rows = [msg(GRANDMA, "外婆", "", kind="system"), msg("wxid_x1", "小王", "hi")]
    with pytest.raises(StageError, match="has no messages"):
        run(make_cfg(), table(rows))


def test_subject_and_exclude_naming_the_same_person_stops(make_cfg):
    with pytest.raises(StageError, match="subject and under exclude"):
        run(make_cfg(f"subject.exclude.ids=[{GRANDMA}]"), table(FAMILY))


# ----------------------------------------------------------------------------- speakers


def test_excluded_speakers_vanish_and_their_names_are_masked(cfg):
    rows = [
        *FAMILY,
        msg(
            "wxid_grandson_hao",
            "浩浩",
            "Tom Zhao明天来吗？赵汤姆说的",
            kind="quote",
            quote_of="Hi everyone",
            quote_sender="Tom Zhao",
        ),
    ]
    result = run(cfg, table(rows))
    df = result.messages
    assert len(df) == len(rows) - 1 and result.report["removed_excluded_speaker"] == 1
    assert df["text"].iloc[-1] == "<PERSON>明天来吗？<PERSON>说的"
    # A quote of an excluded speaker is their words: removed with them.
    assert (df["quote_of"].iloc[-1], df["quote_speaker"].iloc[-1]) == ("", "")
    assert result.report["quotes_of_excluded_removed"] == 1


def test_others_are_numbered_by_message_count_then_first_message(cfg):
    rows = [
        msg("wxid_c", "丙", "1"),
        msg("wxid_b", "乙乙", "2"),
        msg(GRANDMA, "外婆", "3"),
        msg("wxid_a", "甲甲", "4"),
        msg("wxid_a", "甲甲", "5"),
    ]
    df = run(cfg, table(rows)).messages
    assert df["speaker"].tolist() == ["<U2>", "<U3>", "<TARGET>", "<U1>", "<U1>"]


def test_output_has_only_anonymous_columns(cfg):
    result = run(cfg, table(FAMILY))
    df = result.messages
    assert list(df.columns) == OUTPUT_COLUMNS
    assert df["chat"].unique().tolist() == ["C1"]
    assert df["msg_id"].tolist() == [f"C1-{i}" for i in range(1, 6)]
    assert str(df["ts"].dt.tz) == "Asia/Shanghai"
    assert result.mapping["chats"] == {"C1": {"chat_id": "20001@chatroom", "chat_name": "陈家一家亲"}}
    assert result.mapping["speakers"]["<U1>"] == {
        "sender_ids": ["wxid_daughter_li"],
        "names": ["wxid_daughter_li", "李秀英", "秀英"],
    }


def test_chats_are_numbered_by_size(cfg):
    rows = [
        msg(GRANDMA, "外婆", "a", chat_id="wxid_x1", chat_name="小王", is_group=False),
        *FAMILY,
    ]
    df = run(cfg, table(rows)).messages
    assert df.groupby("chat").size().to_dict() == {"C1": 5, "C2": 1}
    assert not df.loc[df["chat"] == "C2", "is_group"].any()


# ----------------------------------------------------------------------------- names in text


def test_mentions_nicknames_and_wxids_become_placeholders(cfg):
    rows = [
        *FAMILY,
        msg("wxid_grandson_hao", "浩浩", "@秀英\u2005@外婆\u2005快看"),
        msg("wxid_grandson_hao", "浩浩", "李秀英的微信是wxid_daughter_li，Meilan也在"),
        msg("wxid_daughter_li", "秀英", "@陈小明\u2005你是谁"),  # a member who never spoke
    ]
    result = run(cfg, table(rows))
    texts = result.messages["text"].tolist()
    assert texts[3] == "@<TARGET>\u2005晚上视频"  # the U+2005 separator stays
    assert texts[5] == "@<U1>\u2005@<TARGET>\u2005快看"
    assert texts[6] == "<U1>的微信是<U1>，<TARGET>也在"
    assert texts[7] == "@<PERSON>\u2005你是谁"
    assert result.report["at_mentions_replaced"] == 3


def test_latin_names_are_not_replaced_inside_longer_words(cfg):
    rows = [msg(GRANDMA, "外婆", "hi"), msg("wxid_ann", "Ann", "Annie说Ann和ann都在")]
    assert run(cfg, table(rows)).messages["text"].iloc[1] == "Annie说<U1>和<U1>都在"


def test_short_names_shared_names_and_third_parties(make_cfg):
    cfg = make_cfg('anonymize.person_names=["周大夫"]')
    rows = [
        msg(GRANDMA, "外婆", "hi"),
        msg("wxid_a", "妈", "妈说周大夫今天不在"),  # one-character name: stays a word
        msg("wxid_b", "阿明", "好"),
        msg("wxid_c", "阿明", "阿明是谁"),  # two members called 阿明: neither placeholder is right
    ]
    result = run(cfg, table(rows))
    assert result.messages["text"].tolist()[1:] == ["妈说<PERSON>今天不在", "好", "<PERSON>是谁"]
    assert result.report["ambiguous_names"] == 1


# ----------------------------------------------------------------------------- PII and hygiene

PII_VALUES = {
    "PHONE": ["13812345678", "+86 139 8765 4321", "010-62345678"],
    "ID_NUMBER": ["110101199003071233", "32058319910415106X"],
    "BANK_CARD": ["6222 0212 3456 7890 128"],
    "EMAIL": ["meilan.chen@example.com"],
    "WECHAT_ID": ["meilan_1958"],
    "QQ": ["83726451"],
    "PLATE": ["沪A3K721"],
    "ADDRESS": ["浦东新区世纪大道100号3号楼1202室", "12 Garden Road"],
    "ADDRESS_STREET": ["长乐路"],  # without a house number
    "ADDRESS_DISTRICT": ["徐汇区"],
    "PERSON": ["王医生", "Dr. Liu"],
}
NAMES = ["李秀英", "秀英", "浩浩", "陈美兰", "外婆", "Tom Zhao", "赵汤姆", "陈家一家亲"]
IDS = ["wxid_daughter_li", "wxid_grandson_hao", GRANDMA, TOM, "20001@chatroom"]


def seeded() -> pd.DataFrame:
    p = PII_VALUES
    rows = [
        *FAMILY,
        msg("wxid_daughter_li", "秀英", f"妈你手机{p['PHONE'][0]}还是{p['PHONE'][1]}？座机{p['PHONE'][2]}"),
        msg(GRANDMA, "外婆", f"身份证{p['ID_NUMBER'][0]}，浩浩的是{p['ID_NUMBER'][1]}"),
        msg("wxid_daughter_li", "李秀英", f"卡号{p['BANK_CARD'][0]}，邮箱{p['EMAIL'][0]}吧"),
        msg("wxid_grandson_hao", "浩浩", f"加外婆微信{p['WECHAT_ID'][0]}，QQ {p['QQ'][0]}"),
        msg(GRANDMA, "外婆", f"车牌{p['PLATE'][0]}，住{p['ADDRESS'][0]}"),
        msg(GRANDMA, "外婆", f"小时候住{p['ADDRESS_STREET'][0]}，后来搬去上海市{p['ADDRESS_DISTRICT'][0]}"),
        msg(
            "wxid_daughter_li",
            "秀英",
            f"明天带你去看{p['PERSON'][0]}",
            kind="quote",
            quote_of=f"我住{p['ADDRESS'][0]}",
            quote_sender=GRANDMA,
        ),
        msg("wxid_grandson_hao", "浩浩", f"{p['PERSON'][1]} lives at {p['ADDRESS'][1]}, mail Tom Zhao"),
        msg("", "", '"李秀英"邀请"赵汤姆"加入了群聊', kind="system"),
        msg(GRANDMA, "外婆", "陈家一家亲 浦东", kind="location", media_ref="loc/20001.xml"),
    ]
    return table(rows)


def test_every_seeded_value_is_replaced_by_its_type(cfg):
    result = run(cfg, seeded())
    counts = {entity: len(values) for entity, values in PII_VALUES.items()}
    # one more ADDRESS in the quoted message, one more PERSON: the excluded Tom Zhao
    assert result.report["entities"] == counts | {"ADDRESS": 3, "PERSON": 3}
    quote = result.messages[result.messages["kind"] == "quote"].iloc[0]
    assert (quote["quote_of"], quote["quote_speaker"]) == ("我住<ADDRESS>", "<TARGET>")
    assert result.messages["text"].iloc[-6] == "车牌<PLATE>，住<ADDRESS>"
    assert result.messages["text"].iloc[-5] == "小时候住<ADDRESS>，后来搬去<ADDRESS>"


def raw_values() -> list[str]:
    return (
        [v for vs in PII_VALUES.values() for v in vs] + NAMES + IDS + ["家人群", "loc/20001", "7001234567890"]
    )


def test_hygiene_no_raw_value_reaches_messages_or_report(cfg):
    result = run(cfg, seeded())
    df = result.messages
    cells = [str(v) for col in df.columns if df[col].dtype != bool for v in df[col].tolist()]
    report = json.dumps(result.report, ensure_ascii=False)
    for raw in raw_values():
        leaked = [c for c in cells if raw.lower() in c.lower()]
        assert not leaked, (raw, leaked)
        assert raw.lower() not in report.lower(), raw


def test_prefilter_gives_the_per_message_presidio_result(make_cfg):
    fast = run(make_cfg(), seeded())
    slow = run(make_cfg("anonymize.prefilter=false"), seeded())
    pd.testing.assert_frame_equal(fast.messages, slow.messages)
    assert fast.report["entities"] == slow.report["entities"]
    assert fast.report["prefilter"]["examined"] < slow.report["prefilter"]["examined"]


def test_pii_prefilter_scans_the_whole_column_at_once():
    texts = ["你好", "电话13812345678", "浩浩来了", "", "@小王\u2005", "ｑｑ１２３４５"]
    assert masking.pii_candidates(texts).tolist() == [False, True, False, False, True, True]


# ----------------------------------------------------------------------------- entry point


def test_command_line_writes_outputs_and_private_mapping(tmp_path: Path):
    data = tmp_path / "data"
    (data / "interim" / "ingest").mkdir(parents=True)
    seeded().to_parquet(data / "interim" / "ingest" / "messages.parquet", index=False)
    (data / "interim" / "person_tagger").mkdir()
    build_tiny_tagger(data / "interim" / "person_tagger" / TAGGER_FILE)  # where the stage's config finds it
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.anonymize", f"paths.data={data}", f"subject.ids=[{GRANDMA}]"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=Path(__file__).resolve().parents[1],
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    out = data / "interim" / "anonymize"
    df = pd.read_parquet(out / "messages.parquet")
    assert list(df.columns) == OUTPUT_COLUMNS and df["is_target"].any()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["messages_out"] == len(df) and report["person_finder"]["tagger"]
    assert (
        json.loads((out / "metrics.json").read_text(encoding="utf-8"))["target_messages"]
        == report["target_messages"]
    )
    mapping = json.loads((data / "private" / "speaker_mapping.json").read_text(encoding="utf-8"))
    assert GRANDMA in mapping["speakers"]["<TARGET>"]["sender_ids"]
    written = (out / "report.json").read_text(encoding="utf-8") + proc.stderr
    for raw in raw_values():
        assert raw not in written, raw  # not even the log line names anyone


def test_the_stage_names_the_missing_tagger_and_how_to_do_without(tmp_path: Path):
    from pipelines.anonymize.__main__ import main

    data = tmp_path / "data"
    (data / "interim" / "ingest").mkdir(parents=True)
    seeded().to_parquet(data / "interim" / "ingest" / "messages.parquet", index=False)
    with pytest.raises(StageError, match=r"person_tagger.npz not found.*anonymize.person.tagger=null"):
        main([f"paths.data={data}", f"subject.ids=[{GRANDMA}]"])
    assert not (data / "interim" / "anonymize").exists()  # nothing written


def test_a_local_ner_model_masks_its_names_in_the_stage_and_its_metrics(tmp_path: Path, monkeypatch):
    """conf/anonymize `person.ner.model`: a model folder (here a tiny one that tags 陈建国) joins
    the finder in the stage's masking and in the labelled set's scores."""
    from tiny_llm import build_tiny_ner

    from pipelines.anonymize import labelled
    from pipelines.anonymize.__main__ import main
    from pipelines.anonymize.ner import NerModel

    read = []  # how many texts each call of the model read
    find_all = NerModel.find_all
    monkeypatch.setattr(
        NerModel, "find_all", lambda self, texts: read.append(len(texts)) or find_all(self, texts)
    )

    data = tmp_path / "data"
    (data / "interim" / "ingest").mkdir(parents=True)
    rows = [
        msg(GRANDMA, "外婆", "好的"),
        msg("wxid_daughter_li", "李秀英", "陈建国。"),
    ]  # the finder misses it
    table(rows).to_parquet(data / "interim" / "ingest" / "messages.parquet", index=False)
    ner = build_tiny_ner(tmp_path / "ner")
    main([f"paths.data={data}", f"subject.ids=[{GRANDMA}]", f"anonymize.person.ner.model={ner}",
          "anonymize.person.tagger=null"])  # fmt: skip
    out = data / "interim" / "anonymize"
    assert pd.read_parquet(out / "messages.parquet")["text"].tolist() == ["好的", "<PERSON>。"]
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["person_finder"]["ner_model"]
    assert read[0] == 2 and read[1:] == [len(labelled.labelled_messages(split=s)) for s in labelled.SPLITS]
