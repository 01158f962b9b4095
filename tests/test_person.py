"""Names of people in Chinese free text (runtime/person.py): what the finder masks and keeps, how a
name found with a cue is masked where it stands alone, and that a live window is masked exactly as
anonymize masked the training data (the model and the names travel in the bundle)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from pipelines.anonymize import labelled, recognizers
from pipelines.anonymize.masking import mask_texts
from runtime import pii
from runtime.names import HashedNames, LiveNames
from runtime.person import ENTITY, NameModel, PersonFinder
from runtime.person_tagger import NameTagger
from tests.conftest import REPO

ANONYMIZE = OmegaConf.load(REPO / "conf" / "anonymize" / "default.yaml")


@pytest.fixture(scope="module")
def finder(names_model):
    return PersonFinder(names_model)


def names_in(finder, text):
    return [text[s.start : s.end] for s in finder.find(text)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("我昨天见了张伟，他说王芳下周来", ["张伟", "王芳"]),  # the example
        ("今天跟孙浩然和欧阳娜娜一起去公园", ["孙浩然", "欧阳娜娜"]),  # three characters, compound surname
        ("听李老师说秀英要结婚了", ["李老师", "秀英"]),  # a given name alone, between cues
        ("谢谢你，代我问候周杰", ["周杰"]),
        ("老王说他明天来，小李也来", ["老王", "小李"]),  # nicknames: a prefix and a surname
        ("我跟阿强约了周末", ["阿强"]),  # or a given name's character
        ("昨天见了岑丽华，她说明天来", ["岑丽华"]),  # a rarer surname (anonymize.person.more_surnames)
        ("代我谢谢白雪", ["白雪"]),  # a word that is also a name, between strong cues
        ("雷鸣昨天打电话来了", ["雷鸣"]),  # the cue past an adverbial: 打电话
        ("红包转给王建军了", ["王建军"]),  # a full name the dictionary knows as a word
        ("跟何雨彤说一声，梁梓萱也来", ["何雨彤", "梁梓萱"]),  # characters of children's names since 1998
        ("刘大爷家的狗又跑了", ["刘大爷"]),  # an elder: surname and kin title
        ("刚才王哥打电话，李嫂说明天来", ["王哥", "李嫂"]),  # a neighbour or colleague, the same way
    ],
)
def test_names_of_people_are_found(finder, text, names):
    assert names_in(finder, text) == names


@pytest.mark.parametrize(
    "text",
    [
        "今天很高兴，周末我们去江南吃饭",  # words that start with a surname character
        "金额不对，马上改",
        "外婆说孙女明天来",  # kin terms (孙女 is listed under not_names)
        "给我一张卡，两万块",  # after a numeral, 张 and 万 are a measure word and a number
        "房間很乾淨，服務員態度好",  # traditional script: characters the dictionary does not know
        "，太差，",  # an exclamation between commas is not a given name
        "老师说小时候要小心",  # words the dictionary knows beat a nickname
        "他很老实，老家在江南",
        "今天的白雪很白，昨天的雷鸣很响",  # words that are also names, with nothing saying a person
        "谢谢奶奶",  # 谢谢 is a word: no 谢奶奶
        "二叔问你好，三姨说不来了",  # kin terms: a prefix and a kin character
        "黄金周去哪玩",  # the dictionary's 黄金周 is no full name: 黄金 is a common word
        "我大哥说表姐结婚了，小姐姐也去",  # kin terms with no surname before them
        "房东刚打电话来",  # 房 is a surname, but 房东 a role (anonymize.person.not_names)
    ],
)
def test_ordinary_words_are_kept(finder, text):
    assert names_in(finder, text) == []


def test_the_model_is_saved_compact_and_reproducible(names_model, tmp_path):
    a, b = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    names_model.save(a)
    names_model.save(b)
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size < 4_000_000
    assert NameModel.load(a) == names_model
    with pytest.raises(ValueError, match="format"):
        NameModel.from_dict({**names_model.to_dict(), "format": 99})


def test_a_name_found_with_a_cue_is_masked_where_it_stands_alone(names_model):
    masker = labelled.member_masker(ANONYMIZE.entities, names_model)
    texts = ["我昨天见了孙浩然", "跟孙浩然说一声", "上次孙浩然没来", "浩然也没来"]
    once = mask_texts(masker, texts, True, propagate_min_count=0)
    twice = mask_texts(masker, texts, True, propagate_min_count=2)
    assert once.texts == ["我昨天见了<PERSON>", "跟<PERSON>说一声", "上次孙浩然没来", "浩然也没来"]
    assert twice.texts[2:] == ["上次<PERSON>没来", "<PERSON>也没来"]  # the given name too
    assert twice.propagated == ["孙浩然", "浩然"] and twice.person_names["孙浩然"] == 2
    common = mask_texts(masker, ["跟何建华说", "我见了何建华", "建华没来"], True, 2)  # 建华 is a common word
    assert common.propagated == ["何建华"] and common.texts[2] == "建华没来"


def test_a_members_placeholder_wins_over_a_person_guess(names_model):
    masker = labelled.member_masker(ANONYMIZE.entities, names_model)  # 王建国 is the member <U4>
    assert masker.mask("我跟王建国说了")[0] == "我跟<U4>说了"


def test_the_finder_is_a_presidio_recognizer(names_model):
    finder = PersonFinder(names_model)
    engine = recognizers.build_engine(tuple(ANONYMIZE.entities), finder.find)
    found = recognizers.analyze(engine, "我昨天见了张伟", ["PERSON"])
    assert [(s.start, s.end, s.entity) for s in found] == [(5, 7, ENTITY)]


def test_the_prefilter_changes_what_presidio_sees_not_what_is_masked(names_model, person_tagger):
    messages = labelled.labelled_messages(split="held_out")[::4]
    masker = labelled.member_masker(ANONYMIZE.entities, names_model, tagger=person_tagger)
    texts = [m.text for m in messages]
    fast, slow = mask_texts(masker, texts, True, 2), mask_texts(masker, texts, False, 2)
    assert fast.texts == slow.texts and fast.analyzed < slow.analyzed


@pytest.mark.parametrize("split", labelled.SPLITS)
def test_a_live_window_is_masked_as_anonymize_masked_training(names_model, person_tagger, split, tmp_path):
    """The runtime's LiveNames (finder from the bundle's model and tagger, the propagated names as
    salted hashes) against the stage's two passes over the whole split (the tagger reading it in
    batches): the same text, message by message."""
    messages = labelled.labelled_messages(split=split)
    texts = [m.text for m in messages]
    masker = labelled.member_masker(ANONYMIZE.entities, names_model, tagger=person_tagger)
    trained = mask_texts(masker, texts, True, 2)
    shipped = json.loads(json.dumps(names_model.to_dict(), ensure_ascii=False))  # through the bundle's JSON
    person_tagger.save(tmp_path / "tagger.npz")
    finder = PersonFinder(NameModel.from_dict(shipped), NameTagger.load(tmp_path / "tagger.npz"))
    outsiders = HashedNames.build(trained.propagated, entity=ENTITY, label=pii.placeholder(ENTITY))
    members = {pii.name_key(n): f"<U{i + 1}>" for i, n in enumerate(labelled.MEMBERS)}
    live = LiveNames(members, None, 2, tuple(ANONYMIZE.entities), finder,
                     HashedNames.from_dict(outsiders.to_dict()))  # fmt: skip
    assert [live.anonymize(t) for t in texts] == trained.texts
