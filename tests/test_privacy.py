"""Nothing re-identifying from the demo inputs survives past `anonymize`: no name, wxid, chat name,
phone, ID, card, email, address, plate or account appears in the outputs or in any report; nor do
the names of people outside the chats that the demo mentions by bare name in Chinese free text
(张伟, 王芳, 赵丽华 and her given name 丽华), which no config lists: the person finder's job (its
rules and its trained tagger, as the stage runs them)."""

from __future__ import annotations

import json

from pipelines.anonymize import person_model
from pipelines.anonymize import run as anonymize
from pipelines.demo_data import generate
from pipelines.ingest import run as ingest
from pipelines.ingest.__main__ import redact_paths
from pipelines.sft_data import run as sft_data


def test_demo_pipeline_outputs_and_reports_hold_no_sensitive_value(make_cfg, data_dir, person_tagger):
    cfg = make_cfg()
    demo = generate(cfg)
    for rel, content in demo.files.items():
        path = data_dir / "raw" / "chats" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    ingested = ingest(cfg, data_dir / "raw" / "chats")
    names_model = person_model.build(cfg.anonymize.person)
    anonymized = anonymize(cfg, ingested.messages, ingested.contacts, names_model, tagger=person_tagger)
    data = sft_data(cfg, anonymized.messages)

    published = {
        "ingest report": json.dumps(redact_paths(ingested.report)[0], ensure_ascii=False),
        "anonymize table": anonymized.messages.astype(str).to_csv(),
        "anonymize report": json.dumps(anonymized.report, ensure_ascii=False),
        "sft examples": json.dumps(
            [data.train, data.val, data.sharegpt_train, data.sharegpt_val], ensure_ascii=False
        ),
        "sft stats": json.dumps(data.stats, ensure_ascii=False),
    }
    values = demo.truth.sensitive_values()
    assert len(values) > 50 and {"张伟", "王芳", "赵丽华", "丽华"} <= set(values)
    assert not {"张伟", "王芳", "赵丽华"} & set(cfg.anonymize.person_names)
    leaks = {(where, v) for where, text in published.items() for v in values if v in text}
    assert leaks == set()
    assert data.train, "the demo must still yield training examples"
