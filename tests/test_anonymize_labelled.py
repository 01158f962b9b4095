"""The labelled Chinese set that measures the anonymizer (pipelines/anonymize/labelled.py), its
scorer, and what the anonymizer must keep doing while its PERSON recall is raised (issue 17):
members always masked, no kin term or name-like word ever masked."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipelines.anonymize import labelled
from runtime import pii


@pytest.fixture(scope="module")
def messages():
    return labelled.labelled_messages()


@pytest.fixture(scope="module")
def scores(messages):
    return labelled.score(labelled.member_masker(pii.ENTITIES).spans, messages)


def test_the_set_has_hundreds_of_messages_and_every_label_is_what_it_says(messages):
    pools = {
        "PERSON": {*labelled.OUTSIDERS, *labelled.TITLED, *labelled.GIVEN},
        "SPEAKER": set(labelled.MEMBERS),
        "PHONE": {*labelled.DIGIT_PHONES, *labelled.NUMERAL_PHONES},
        "ADDRESS": {street_or_district for _, street_or_district in labelled.ADDRESSES},
    }
    assert len(messages) >= 300 and len({m.text for m in messages}) > 300
    for m in messages:
        for start, end, entity in m.spans:
            assert m.text[start:end] in pools[entity], (m.text, entity)
    texts = "".join(m.text for m in messages)
    assert all(w in texts for w in (*labelled.KIN, *labelled.DECOYS))  # unlabelled, present
    assert labelled.labelled_messages() == messages  # same seed, same set


def test_the_scorer_counts_half_masked_names_as_leaks_and_masked_words_against_precision():
    msg = [labelled.Labelled("我见了张伟和高兴", ((3, 5, "PERSON"),))]
    span = SimpleNamespace
    assert labelled.score(lambda t: [span(start=3, end=5, entity="PERSON")], msg)["PERSON"] == {
        "labelled": 1, "masked": 1, "recall": 1.0, "precision": 1.0}  # fmt: skip
    half = labelled.score(lambda t: [span(start=3, end=4, entity="PERSON")], msg)["PERSON"]
    assert half["recall"] == 0.0 and half["precision"] == 1.0  # 伟 still shows: a leak
    greedy = [span(start=3, end=5, entity="PERSON"), span(start=6, end=8, entity="PERSON")]
    assert labelled.score(lambda t: greedy, msg)["PERSON"]["precision"] == 0.5  # 高兴 masked


def test_members_and_digit_phones_are_always_masked(scores):
    assert scores["SPEAKER"]["recall"] == 1.0 and scores["SPEAKER"]["precision"] == 1.0
    assert scores["PHONE"]["precision"] == 1.0


def test_no_kin_term_or_name_like_word_is_masked(messages):
    masker = labelled.member_masker(pii.ENTITIES)
    for m in messages:
        masked = masker.mask(m.text)[0]
        for word in (*labelled.KIN, *labelled.DECOYS):
            assert (
                m.text.count(word)
                <= masked.count(word)
                + sum(  # kept, unless inside a labelled span
                    m.text[s:e].count(word) for s, e, _ in m.spans
                )
            ), (m.text, masked, word)


def test_the_anonymize_metrics_report_precision_and_recall_on_the_set():
    from pipelines.anonymize.__main__ import metrics

    report = {k: 0 for k in ("messages_in", "messages_out", "removed_excluded_speaker", "target_messages",
                             "speakers", "chats")} | {"entities": {}}  # fmt: skip
    quality = metrics(report, pii.ENTITIES)["labelled_set"]
    assert set(quality) >= {"PERSON", "SPEAKER", "PHONE", "ADDRESS"}
    assert all(set(v) == {"labelled", "masked", "recall", "precision"} for v in quality.values())
