"""The optional local NER model (conf/anonymize `person.ner`, pipelines/anonymize/ner.py): how its
labels are read, what it needs in its folder, and its names masked next to the person finder's."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from tiny_llm import build_tiny_ner

from pipelines.anonymize import labelled
from pipelines.anonymize.masking import mask_texts
from pipelines.anonymize.ner import NerModel, decode, tag_of
from pipelines.stage import StageError

REPO = Path(__file__).resolve().parents[1]
NER = OmegaConf.load(REPO / "conf" / "anonymize" / "default.yaml").person.ner


@pytest.fixture(scope="module")
def ner(tmp_path_factory) -> NerModel:
    folder = build_tiny_ner(tmp_path_factory.mktemp("ner") / "model")
    return NerModel.load(OmegaConf.merge(NER, {"model": str(folder)}))


# ------------------------------------------------------------------------ reading labels


def test_labels_in_each_tagging_scheme_name_a_position_and_a_type():
    assert tag_of("B-PER") == ("B", "PER") and tag_of("S_name") == ("S", "name")
    assert tag_of("PER") == ("I", "PER") and tag_of("o") == ("O", "")


def spans(labels, wanted=("per",), min_score=0.5, probs=None):
    offsets = [(0, 0), *[(i, i + 1) for i in range(len(labels) - 2)], (0, 0)]  # [CLS] ... [SEP]
    found = decode(labels, probs or [0.9] * len(labels), offsets, set(wanted), min_score)
    return [(s.start, s.end) for s in found]


def test_bio_spans_start_at_b_and_continue_over_i_of_the_same_type():
    assert spans(["O", "O", "B-PER", "I-PER", "O", "B-PER", "B-PER", "O"]) == [(1, 3), (4, 5), (5, 6)]
    assert spans(["O", "I-PER", "I-PER", "B-LOC", "I-LOC", "O"]) == [(0, 2)]  # a stray I- starts one
    assert spans(["O", "B-LOC", "I-LOC", "O"]) == []  # not a person


def test_bioes_and_plain_labels_read_the_same_way():
    assert spans(["O", "B-name", "M-name", "E-name", "S-name", "O"], wanted=("name",)) == [(0, 3), (3, 4)]
    assert spans(["O", "PER", "PER", "O", "PER", "O"]) == [(0, 2), (3, 4)]


def test_special_tokens_end_a_span_and_unsure_spans_are_dropped():
    assert spans(["B-PER", "I-PER", "I-PER", "I-PER"]) == [(0, 2)]  # [CLS] and [SEP] carry no text
    assert spans(["O", "B-PER", "I-PER", "O"], probs=[1, 0.4, 0.5, 1]) == []


# ------------------------------------------------------------------------ the model folder


def test_a_missing_model_says_which_file_and_how_to_turn_it_off(tmp_path):
    assert NerModel.load(NER) is None  # the default: no model
    with pytest.raises(StageError, match=r"config.json not found .*ner.model=null"):
        NerModel.load(OmegaConf.merge(NER, {"model": str(tmp_path / "nowhere")}))


def test_a_model_without_person_labels_names_its_labels_and_the_setting(tmp_path):
    folder = build_tiny_ner(tmp_path / "model", labels=("O", "B-LOC", "I-LOC"))
    with pytest.raises(StageError, match=r"\['LOC'\] is in anonymize.person.ner.labels"):
        NerModel.load(OmegaConf.merge(NER, {"model": str(folder)}))


def test_the_model_runs_on_the_configured_device_and_a_wrong_one_names_the_setting(tmp_path, ner):
    assert ner.model.device.type == "cpu"  # auto, on a machine without a GPU
    folder = build_tiny_ner(tmp_path / "model")
    with pytest.raises(StageError, match=r"device 'gpu0' .*ner.device=auto"):
        NerModel.load(OmegaConf.merge(NER, {"model": str(folder), "device": "gpu0"}))


def test_the_model_finds_names_at_their_character_offsets(ner):
    texts = ["我昨天见了张伟，他说王芳下周来", "今天在上海", "陈建国"]
    found = [[t[s.start : s.end] for s in spans] for t, spans in zip(texts, ner.find_all(texts), strict=True)]
    assert found == [["张伟", "王芳"], [], ["陈建国"]]


def test_a_message_longer_than_the_window_is_read_in_overlapping_windows(ner):
    window, ner.max_tokens = ner.max_tokens, 16  # the fixture is per module: restored below
    try:
        text = "我昨天见了他说下周来" * 4 + "张伟" + "今天在上海" * 2 + "王芳"
        assert [text[s.start : s.end] for s in ner.find_all([text])[0]] == ["张伟", "王芳"]
    finally:
        ner.max_tokens = window


def test_the_window_fits_the_models_positions(ner):
    """conf max_tokens (128) is cut to what the model has positions for (the tiny one: 64), so a long
    message is read in windows it can take."""
    assert NER.max_tokens > 64 and ner.max_tokens == ner.model.config.max_position_embeddings == 64
    text = "我昨天见了他说下周来" * 12 + "张伟"
    assert [text[s.start : s.end] for s in ner.find_all([text])[0]] == ["张伟"]


# ------------------------------------------------------------------------ masking with it


def test_its_names_are_masked_with_the_finders_and_members_keep_their_placeholders(ner, names_model):
    # 王建国 is a chat member (<U4>), also where the model runs its span past the name (王建国伟)
    texts = ["陈建国说下周来", "我昨天见了王建国", "王建国伟今天在上海"]
    alone = mask_texts(labelled.member_masker(["PERSON"], None, ner), texts)  # no finder: the model only
    assert alone.texts == ["<PERSON>说下周来", "我昨天见了<U4>", "<U4>伟今天在上海"]
    assert alone.person_names == {"陈建国": 1}  # the model's names count for masking wherever written
    both = mask_texts(labelled.member_masker(["PERSON"], names_model, ner), texts)
    assert both.texts == alone.texts
