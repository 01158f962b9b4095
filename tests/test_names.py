"""Names in chat text: the live window masks them exactly as anonymize masked the training data,
the persona's names included, which the bundle keeps only as salted hashes (runtime/names.py)."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import pii
from runtime.generator import to_window
from runtime.names import HashedNames, LiveNames
from runtime.prompt import TARGET

PERSONA = ["陈美兰", "外婆", "Meilan", "Meilan 🌻", "Grandma Mei", "美"]  # "美": too short to mask in text
DECOYS = ["美丽", "Meilanxyz", "xMeilan", "Grandma Meiling", "外", "婆婆"]


class Line:
    def __init__(self, sender, text, from_persona=False):
        self.sender, self.text, self.from_persona = sender, text, from_persona


def regex_spans(text: str, names) -> list[pii.Span]:
    """What anonymize's NameIndex finds for these names (the clear-name regex)."""
    keys = {
        pii.name_key(n): pii.Span(0, 0, pii.SPEAKER, 1.0, TARGET) for n in names if len(pii.name_key(n)) >= 2
    }
    return pii.resolve_spans(pii.find_names(text, pii.names_regex(keys), keys))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*PERSONA, *DECOYS, " ", "，", "吃饭了吗", "hi", "🌻", "a", "1", "@"]), max_size=12
    )
)
def test_hashed_names_find_exactly_what_the_clear_name_regex_finds(parts):
    text = "".join(parts)
    hashed = HashedNames.build(PERSONA)
    assert pii.resolve_spans(hashed.find(text)) == regex_spans(text, PERSONA)


def test_the_bundle_holds_no_name_in_clear_and_a_fresh_salt_each_build():
    a, b = HashedNames.build(PERSONA).to_dict(), HashedNames.build(PERSONA).to_dict()
    stored = json.dumps(a, ensure_ascii=False)
    assert not any(n.lower() in stored.lower() for n in PERSONA if len(n) > 1)
    assert a["salt"] != b["salt"] and set(a["digests"]).isdisjoint(b["digests"])
    assert len(a["digests"]) == 5 and a["lengths"] == [2, 3, 6, 8, 11]  # "美" is under min_name_chars
    assert HashedNames.from_dict(a).find("外婆") == [pii.Span(0, 2, pii.SPEAKER, 1.0, TARGET)]


def test_the_live_window_masks_the_persona_as_training_did():
    window = to_window(
        [
            Line("小雨", "外婆 我电话13812345678"),
            Line("Tom Lin", "小雨 you there? @Meilan 🌻"),
            Line("me", "在呢", True),
        ],
        persona=HashedNames.build(PERSONA),
    )
    assert window.text == "<U1>: <TARGET> 我电话<PHONE>\n<U2>: <U1> you there? @<TARGET>\n<TARGET>: 在呢"


def test_persona_names_typed_at_run_time_count_like_the_bundles():
    window = to_window([Line("小雨", "Grandma Mei 吃饭了吗 美丽")], persona_names=["Grandma Mei"])
    assert window.text == "<U1>: <TARGET> 吃饭了吗 美丽"


def test_anonymize_and_the_live_window_agree_on_every_text():
    """The training side (presidio + NameIndex) and the live side (LiveNames) on the same names."""
    from pipelines.anonymize import recognizers, speakers
    from pipelines.anonymize.masking import Masker

    people = speakers.People(pd.Series([], dtype=bool), pd.Series([], dtype=bool), {},
                             {TARGET: set(PERSONA), "<U1>": {"小雨"}, "<U2>": {"Tom Lin"}}, {})  # fmt: skip
    masker = Masker(recognizers.build_engine(), pii.ENTITIES, speakers.name_index(people))
    live = LiveNames({"小雨": "<U1>", "tom lin": "<U2>"}, HashedNames.build(PERSONA))
    texts = [
        "外婆 我电话13812345678，找小雨",
        "@Meilan 🌻 tom lin says hi to Grandma Meiling and 美丽的 Meilan",
        "陈美兰的身份证 110101199003074514 邮箱 mei@example.com",
        "xMeilan Meilanxyz 外 婆婆 Grandma Mei!",
        "小雨小雨 外婆外婆",
    ]
    for text in texts:
        assert live.anonymize(text) == masker.mask(text)[0], text


def test_package_hashes_the_configured_and_the_seen_names_of_the_persona(make_cfg, tmp_path):
    import pytest

    from pipelines.package import add_persona_names
    from pipelines.stage import StageError

    cfg = make_cfg()
    out = tmp_path / "bundle"
    out.mkdir()
    with pytest.raises(StageError, match="run the anonymize stage first"):
        add_persona_names(cfg, out)
    mapping = {
        "speakers": {
            TARGET: {"sender_ids": ["wxid_x"], "names": ["美兰姐", "外婆"]},
            "<U1>": {"names": ["小雨"]},
        }
    }
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    cfg = make_cfg(f"anonymize.mapping={path}")
    component = add_persona_names(cfg, out)
    stored = (out / "names.json").read_text(encoding="utf-8")
    names = HashedNames.from_dict(json.loads(stored))
    assert component == {"path": "names.json", "count": len(names.digests), "min_name_chars": 2}
    assert (
        names.find("美兰姐好") and names.find("Grandma Mei") and not names.find("小雨")
    )  # seen + configured
    assert "美兰" not in stored and "Meilan" not in stored
    assert (
        add_persona_names(make_cfg(f"anonymize.mapping={path}", "package.persona_names=false"), out) is None
    )


def test_the_live_window_masks_the_pii_types_training_masked_and_no_others():
    line = [Line("小雨", "我家在长乐路，电话13812345678")]
    assert to_window(line).text == "<U1>: 我家在<ADDRESS>，电话<PHONE>"
    kept_streets = [e for e in pii.ENTITIES if e != "ADDRESS_STREET"]  # anonymize.entities without it
    assert to_window(line, entities=kept_streets).text == "<U1>: 我家在长乐路，电话<PHONE>"


def test_package_ships_the_name_model_and_other_peoples_names_hashed(make_cfg, tmp_path, names_model):
    import pytest
    from tiny_llm import build_tiny_tagger

    from pipelines.package import add_person_names
    from pipelines.stage import StageError
    from runtime.person import MODEL_FILE, NameModel
    from runtime.person_tagger import MODEL_FILE as TAGGER_FILE

    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps({"speakers": {}, "outsiders": ["孙浩然", "浩然"]}, ensure_ascii=False), "utf-8"
    )
    anonymized = tmp_path / "anonymize"
    anonymized.mkdir()
    tagger_file = tmp_path / TAGGER_FILE
    cfg = make_cfg(f"anonymize.mapping={mapping}", f"anonymize.output={anonymized}",
                   f"anonymize.person.tagger={tagger_file}")  # fmt: skip
    out = tmp_path / "bundle"
    out.mkdir()
    with pytest.raises(StageError, match="run the anonymize stage first"):
        add_person_names(cfg, out)
    names_model.save(anonymized / MODEL_FILE)
    out = tmp_path / "bundle1"
    out.mkdir()
    with pytest.raises(StageError, match="run the person_tagger stage first"):
        add_person_names(cfg, out)
    tagger, _ = build_tiny_tagger(tagger_file)
    out = tmp_path / "bundle2"
    out.mkdir()
    component = add_person_names(cfg, out)
    assert component["model"] == f"person/{MODEL_FILE}" and component["outsiders"] == "person/outsiders.json"
    assert NameModel.load(out / component["model"]) == names_model
    assert component["tagger"] == f"person/{TAGGER_FILE}"
    stored = (out / component["outsiders"]).read_text(encoding="utf-8")
    outsiders = HashedNames.from_dict(json.loads(stored))
    assert "浩然" not in stored and "Peter" not in stored  # found and configured (person_names), hashed
    assert [s.label for s in pii.resolve_spans(outsiders.find("浩然和Peter Walsh"))] == [
        "<PERSON>",
        "<PERSON>",
    ]

    from runtime.bundle import CHAT_MODEL, POLICY, open_bundle, write_manifest
    from tests.signing_key import TEST_KEY

    (out / CHAT_MODEL).mkdir()  # the runtime opens it, verified, and finds names with it
    (out / POLICY).write_text("{}", encoding="utf-8")
    components = {"chat_model": {"path": CHAT_MODEL}, "policy": {"path": POLICY}, "person": component}
    write_manifest(out, {"name": "t", "created": "now", "consent": {}, "components": components}, TEST_KEY)
    bundle = open_bundle(out)
    assert [s.entity for s in bundle.person_finder.find("我昨天见了张伟")] == ["PERSON"]
    assert bundle.person_finder.tagger.find_all(["桂花呢", "hello"]) == tagger.find_all(["桂花呢", "hello"])
    assert bundle.outsider_names.find("浩然来了")

    off = tmp_path / "bundle3"
    off.mkdir()
    component = add_person_names(make_cfg(f"anonymize.mapping={mapping}", f"anonymize.output={anonymized}",
                                          "anonymize.person.enabled=false"), off)  # fmt: skip
    assert "model" not in component and not (off / "person" / MODEL_FILE).exists()
    assert "tagger" not in component and not (off / "person" / TAGGER_FILE).exists()
