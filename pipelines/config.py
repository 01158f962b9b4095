"""Stage `config`: keep `params.yaml` (DVC's view of the config) in sync with `conf/`.

`conf/` is the source of truth; stages run by DVC read the resolved `params.yaml`, and declare the
sections they use as DVC params, so an edit re-runs exactly the stages that use the edited values.
DVC only composes `conf/` on `dvc exp run -S …` (Hydra integration), never on `dvc repro`; this
stage closes that gap. It stamps params.yaml with the hash of the composed `conf/`:

- stamp matches `conf/`      -> params.yaml is current (it may carry `-S` edits): keep it;
- stamp differs              -> `conf/` was edited since: recompose from `conf/`;
- no stamp                   -> DVC just composed it with `-S` overrides from the current `conf/`:
                                keep its values, add the stamp.

    python -m pipelines.config          # sync (what `dvc repro` runs first)
    python -m pipelines.config --check  # exit 1 if params.yaml is stale (CI / tests)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from pipelines import stage
from pipelines.atomic import write_text

STAMP = "_conf_sha256"
PARAMS_FILE = Path("params.yaml")
HEADER = "# Generated from conf/ by `python -m pipelines.config` (first stage of dvc.yaml). Edit conf/.\n"


def composed_conf(overrides: list[str] | None = None) -> dict:
    cfg = stage.compose_config(overrides or [])
    return OmegaConf.to_container(cfg, resolve=True)


def conf_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def run(conf: dict, current: dict | None) -> dict:
    """The params.yaml content to write, given the composed conf/ and the current params.yaml."""
    stamp = conf_hash(conf)
    if current is None:
        return {STAMP: stamp, **conf}
    if STAMP not in current:  # freshly composed by `dvc exp run -S`: its values win
        return {STAMP: stamp, **{k: v for k, v in current.items() if k != STAMP}}
    if current[STAMP] != stamp:  # conf/ edited since the last sync
        return {STAMP: stamp, **conf}
    return current


def dump(params: dict) -> str:
    return HEADER + yaml.safe_dump(params, allow_unicode=True, sort_keys=False)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    stage.setup_logging()
    current = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8")) if PARAMS_FILE.exists() else None
    conf = composed_conf()
    if "--check" in args:
        if current is None or current.get(STAMP) != conf_hash(conf):
            raise stage.StageError(f"{PARAMS_FILE} is stale: run `python -m pipelines.config` and commit it")
        return
    new = run(conf, current)
    if new != current:
        write_text(PARAMS_FILE, dump(new))
        stage.log.info("params.yaml updated from conf/")


if __name__ == "__main__":
    stage.entrypoint(main)
