"""conf/ is the source of truth; params.yaml is DVC's resolved, stamped copy of it."""

from __future__ import annotations

import pytest

from pipelines import config, stage

CONF = {"sft_data": {"window": 12}, "ingest": {"timezone": "Asia/Shanghai"}}


def test_first_sync_writes_the_composed_conf_with_its_stamp():
    params = config.run(CONF, current=None)
    assert params == {config.STAMP: config.conf_hash(CONF), **CONF}


def test_params_in_sync_with_conf_are_kept_including_hand_or_S_edits():
    current = {config.STAMP: config.conf_hash(CONF), "sft_data": {"window": 7}, "ingest": CONF["ingest"]}
    assert config.run(CONF, current) is current


def test_an_edit_to_conf_replaces_stale_params():
    stale = config.run({"sft_data": {"window": 12}}, None)
    edited = {"sft_data": {"window": 8}}
    assert config.run(edited, stale) == {config.STAMP: config.conf_hash(edited), **edited}


def test_params_freshly_composed_by_dvc_exp_run_keep_their_override_values():
    composed_with_override = {"sft_data": {"window": 5}, "ingest": CONF["ingest"]}  # no stamp
    params = config.run(CONF, composed_with_override)
    assert params["sft_data"]["window"] == 5
    assert params[config.STAMP] == config.conf_hash(CONF)


def test_committed_params_yaml_is_in_sync_with_conf(monkeypatch):
    monkeypatch.chdir(stage.CONF_DIR.parent)
    config.main(["--check"])


def test_every_stage_group_composes_and_paths_reroot(tmp_path):
    cfg = config.composed_conf([f"paths.data={tmp_path}"])
    stages = [g for g in cfg if g not in ("paths", "subject", "model", "experiment")]
    expected = {"memory", "voice_features", "voice_train", "voice_export", "face_align", "face_export"}
    assert expected <= set(stages)
    path_keys = ("input", "output", "mapping", "model", "messages", "questions", "audio", "photos", "camera")
    path_keys += ("face",)  # package.face (the face component)
    for group in stages:
        for key, value in cfg[group].items():
            if key in path_keys and isinstance(value, str):  # voice_train.model is an architecture
                assert value.startswith(str(tmp_path)), f"{group}.{key} ignores paths.data: {value}"
    assert cfg["face_export"]["check"]["camera"].startswith(str(tmp_path))


def test_stages_refuse_to_run_without_consent():
    with pytest.raises(stage.StageError, match=r"subject\.consent\.date"):
        stage.load_config("ingest", ["subject.consent.date=null"])


@pytest.mark.parametrize("choice", [p.stem for p in (stage.CONF_DIR / "experiment").glob("*.yaml")])
def test_every_experiment_composes(choice):
    cfg = stage.compose_config([f"experiment={choice}"])
    assert cfg.subject.consent.given_by  # the rest of the tree is intact


@pytest.mark.parametrize("choice", [p.stem for p in (stage.CONF_DIR / "model").glob("*.yaml")])
def test_every_model_preset_names_its_source_and_lora_targets(choice):
    model = stage.compose_config([f"model={choice}", "model.path=/x"]).model
    assert model.source in ("gguf", "local") and model.download_hint
    assert model.lora.target_modules and model.max_length > 0


def test_a_stage_input_that_is_missing_or_broken_names_the_file_line_and_command(tmp_path):
    rows = tmp_path / "pieces.jsonl"
    with pytest.raises(stage.StageError, match=r"pieces\.jsonl not found: run audio_prep first"):
        stage.read_jsonl(rows, "audio_prep")
    rows.write_text('{"piece": "A001-0"}\n\n{"piece": \n')
    with pytest.raises(stage.StageError, match=r"pieces\.jsonl line 3: not JSON .*pipelines\.audio_prep"):
        stage.read_jsonl(rows, "audio_prep")
    rows.write_text('{"piece": "A001-0"}\n\n{"piece": "A001-1"}\n')
    assert stage.read_jsonl(rows, "audio_prep") == [{"piece": "A001-0"}, {"piece": "A001-1"}]


BAD_DATES = [
    ("2026-02-30", "is not a date"),
    ("15.01.2026", "is not a date"),
    ("2999-01-01", "is in the future"),
]


@pytest.mark.parametrize(("date", "problem"), BAD_DATES)
def test_a_consent_date_must_be_a_real_past_date(date, problem):
    with pytest.raises(stage.StageError, match=rf"subject\.consent\.date: .*{problem}"):
        stage.load_config("ingest", [f"subject.consent.date={date}"])


def test_the_bundle_keeps_who_consented_as_a_salted_hash_and_the_demos_record_only_with_its_chats(
    make_cfg, data_dir
):
    import hashlib

    from pipelines.package import consent_record

    cfg = make_cfg()
    with pytest.raises(stage.StageError, match="still holds the demo's fictional consent record"):
        consent_record(cfg)  # data/raw/chats holds no demo marker: someone's real exports
    (data_dir / "raw" / "chats").mkdir(parents=True, exist_ok=True)
    (data_dir / "raw" / "chats" / stage.DEMO_MARKER).write_text("demo", encoding="utf-8")
    a, b = consent_record(cfg), consent_record(cfg)
    who = str(cfg.subject.consent.given_by)
    assert a["given_by"]["salt"] != b["given_by"]["salt"] and who not in str(a)
    assert a["given_by"]["sha256"] == hashlib.sha256(f"{a['given_by']['salt']}\n{who}".encode()).hexdigest()
    assert a["date"] == "2026-01-15" and a["demo"] is True
    real = make_cfg("~subject.consent.demo", "subject.consent.given_by=Someone Real")
    (data_dir / "raw" / "chats" / stage.DEMO_MARKER).unlink()
    assert "demo" not in consent_record(real)
