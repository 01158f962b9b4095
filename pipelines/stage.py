"""What every stage shares: config composition, the consent gate, logging, user-facing errors.

A stage module exposes a pure `run(cfg, ...)` and a thin `main()`:

    def main(argv=None):
        cfg = stage.load_config("ingest", argv)
        ...read inputs, call run(), write outputs atomically...

Config comes from `conf/` composed by Hydra with `key=value` overrides from the command line
(`python -m pipelines.ingest paths.data=/tmp/x`). Under DVC, stages get `--params params.yaml`
instead: the resolved config that `pipelines.config` keeps in sync with `conf/` and that
`dvc exp run -S` edits.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
log = logging.getLogger("still")


class StageError(Exception):
    """A problem the user can fix (bad input, missing config). Printed without a traceback."""


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `conf/config.yaml` with Hydra overrides (unresolved: interpolations stay live)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def load_config(stage: str, argv: Sequence[str] | None = None) -> DictConfig:
    """Config for `stage` from the command line: `[--params FILE] [key=value ...]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args[:1] == ["--params"]:
        if len(args) < 2:
            raise StageError("--params needs a file, e.g. --params params.yaml")
        cfg = OmegaConf.load(args[1])
        cfg.merge_with(OmegaConf.from_dotlist(args[2:]))
    else:
        cfg = compose_config(args)
    if stage not in cfg:
        raise StageError(f"config has no '{stage}' group: add conf/{stage}/ and list it in conf/config.yaml")
    require_consent(cfg)
    return cfg


DEMO_MARKER = ".demo_data"  # in every folder demo_data writes: fictional data, not a user's exports
CONSENT_FIELDS = {
    "given_by": "who consented (the person themself, or their legal representative)",
    "relationship": "relationship of the consenting person to the subject (self, spouse, child, …)",
    "date": "when consent was given (YYYY-MM-DD)",
    "permitted_use": "what the persona may be used for (e.g. private family conversation)",
}


def require_consent(cfg: DictConfig) -> None:
    """Refuse to run without a complete consent record in conf/subject.yaml."""
    consent = OmegaConf.select(cfg, "subject.consent", default=None) or {}
    missing = [f"  subject.consent.{k}: {why}" for k, why in CONSENT_FIELDS.items() if not consent.get(k)]
    if missing:
        raise StageError(
            "No consent record: Still builds a persona only with recorded consent.\n"
            "Fill in these fields in conf/subject.yaml (or pass them as overrides):\n" + "\n".join(missing)
        )
    consent_date(consent)


def consent_date(consent) -> datetime.date:
    """The consent date, which must be a real calendar date (YYYY-MM-DD) and not in the future."""
    raw = str(consent.get("date"))
    try:
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        raise StageError(f"subject.consent.date: {raw!r} is not a date; write it as YYYY-MM-DD") from None
    if day > datetime.date.today():
        raise StageError(f"subject.consent.date: {raw} is in the future; write the day consent was given")
    return day


def setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def read_jsonl(path: str | Path, written_by: str) -> list[dict]:
    """The rows of a JSON-lines file that stage `written_by` wrote. A missing file or a line that is
    not JSON stops the stage naming the file, the line and the command that rebuilds it."""
    path = Path(path)
    rebuild = f"python -m pipelines.{written_by}"
    if not path.is_file():
        raise StageError(f"{path} not found: run {written_by} first ({rebuild})")
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise StageError(f"{path} line {n}: not JSON ({e}); rebuild it ({rebuild})") from e
    return rows


def entrypoint(main) -> None:
    """Run a stage's main(); user-fixable errors print one clear message and exit 1."""
    try:
        main()
    except StageError as e:
        setup_logging()
        log.error("%s", e)
        sys.exit(1)
