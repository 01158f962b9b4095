"""The bundle: the only contract between the Linux pipeline and the Windows runtime.

A bundle is a folder (`data/dist/<name>/`, optionally zipped for copying):

    manifest.json   schema version, components, the resolved config that built it, the consent
                    record, and the sha256 of every other file
    manifest.sig    the build machine's Ed25519 signature of manifest.json and its public key
    chat_model/     the merged persona model (Hugging Face folder + still_model.json)
    chat_gguf/      the same model quantized for llama.cpp (one GGUF file of chat_export); optional
    policy.json     reply policy and AI disclosure settings (runtime.policy.PolicyConfig)
    memory/         retrieval memory: anonymized snippets, BM25 postings, embeddings + encoder and
                    the retrieval settings (runtime/memory.py); optional
    voice/          the voice model (runtime/voice/convert.py): voice.json, the synthesizer and
                    content-encoder ONNX graphs, the retrieval features; optionally the RVC-format
                    .pth + .index for the RVC WebUI or w-okada's voice changer; optional
    face/           the persona's face for live swap (runtime/face/faceset.py): face.json, the YuNet
                    detector, the curated crops numbered by rank, identity embeddings; optional
    names.json      the persona's names as salted hashes, to mask them in live text as in training
                    (runtime/names.py); optional
    person/         other people's names in live text, found as in training: the name model
                    (person_model.json.gz, runtime/person.py), the learned tagger (person_tagger.npz,
                    runtime/person_tagger.py) and the names anonymize masked wherever they
                    were written, as salted hashes (outsiders.json); optional

`pipelines.package` writes bundles with `write_manifest`; the runtime opens them with `open_bundle`,
which verifies every checksum before anything is loaded (files unchanged since they last matched
are remembered outside the bundle and not re-read; `doctor` always reads all) and refuses a bundle
with missing, changed or extra files (a nested `manifest.json` included), symbolic links, or a
component or file path that is absolute or leaves the bundle. The checksums detect corruption;
`manifest.sig` (runtime/signing.py) says who built it: the runtime checks the Ed25519 signature
and the key this PC pinned for the bundle's name on first use. Someone who changes a file and sets
its size and time back is only caught by a full check (`doctor`). Standard library, plus
`cryptography` for the signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runtime.atomic import write_json

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"  # Ed25519 signature of manifest.json (runtime/signing.py)
CHAT_MODEL = "chat_model"
CHAT_GGUF = "chat_gguf"
POLICY = "policy.json"
MEMORY = "memory"
VOICE = "voice"
FACE = "face"
NAMES = "names.json"  # the persona's names as salted hashes (runtime/names.py)
PERSON = "person"  # other people's names: the finder's model and hashed names (runtime/person.py)
MODEL_INFO = "still_model.json"  # inside chat_model/: prompt format, instruction, training facts


class BundleError(Exception):
    """The bundle cannot be used as it is; the message says which file and what to do."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def walk(root: Path) -> tuple[list[str], list[str]]:
    """(every file except the top-level manifest, every symbolic link), as sorted POSIX paths
    relative to `root`. Links are not followed: a bundle holds plain files only."""
    files, links = [], []
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in [*dirs, *names]:
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                links.append(rel)
            elif name in names and rel not in (MANIFEST, MANIFEST_SIG):
                files.append(rel)
    return sorted(files), sorted(links)


def bundle_files(root: Path) -> list[str]:
    """Every file of the bundle except the manifest, as sorted POSIX paths relative to `root`."""
    return walk(root)[0]


def inside(rel: str) -> bool:
    """`rel` is a relative path that stays inside the bundle."""
    p = PurePosixPath(rel)
    windows = "\\" in rel or ":" in rel  # C:\..., a\..\b: never written by package
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts and not windows


def write_manifest(root: Path, manifest: dict, key_file: str | Path) -> dict:
    """Add schema version and checksums of every file in `root` to `manifest`; write manifest.json
    and sign it with the private key in `key_file` (created on first use)."""
    links = walk(root)[1]
    if links:
        raise BundleError(
            f"{root}: symbolic links cannot go into a bundle ({', '.join(links)}); copy the files"
        )
    full = {"schema_version": SCHEMA_VERSION, **manifest}
    full["files"] = {rel: sha256_of(root / rel) for rel in bundle_files(root)}
    (root / MANIFEST).write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    from runtime.signing import sign

    sign(root, key_file)
    return full


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict
    public_key: str = ""  # who signed it (hex Ed25519), as trusted on this PC
    trust: str = ""  # "pinned" (first use here), "trusted", or "replaced" (--trust-new-key)

    @property
    def components(self) -> dict:
        return self.manifest["components"]

    @property
    def chat_model(self) -> Path:
        return self.root / self.components["chat_model"]["path"]

    @property
    def model_info(self) -> dict:
        return json.loads((self.chat_model / MODEL_INFO).read_text(encoding="utf-8"))

    @property
    def memory(self) -> Path | None:
        """The memory index folder, or None when the bundle was built without memory."""
        component = self.components.get("memory")
        return self.root / component["path"] if component else None

    @property
    def voice(self) -> Path | None:
        """The voice model folder (has voice.json), or None when the bundle has no voice."""
        component = self.components.get("voice")
        return self.root / component["path"] if component else None

    @property
    def face(self) -> Path | None:
        """The face component folder (has face.json), or None when the bundle has no face."""
        component = self.components.get("face")
        return self.root / component["path"] if component else None

    @property
    def persona_names(self):
        """The persona's hashed names (runtime.names.HashedNames), or None."""
        component = self.components.get("names")
        if not component:
            return None
        from runtime.names import HashedNames

        return HashedNames.from_dict(json.loads((self.root / component["path"]).read_text(encoding="utf-8")))

    @property
    def chat_gguf(self) -> Path | None:
        """The quantized chat model for llama.cpp (chat_export's file the bundle ships), or None."""
        component = self.components.get("chat_gguf")
        return self.root / component["path"] if component else None

    @property
    def person_finder(self):
        """The person finder with the bundle's name model and, when it ships one, its learned
        tagger (runtime.person.PersonFinder), or None."""
        component = self.components.get("person")
        if not component or not component.get("model"):
            return None
        from runtime.person import NameModel, PersonFinder

        tagger = None
        if component.get("tagger"):
            from runtime.person_tagger import NameTagger

            tagger = NameTagger.load(self.root / component["tagger"])
        return PersonFinder(NameModel.load(self.root / component["model"]), tagger)

    @property
    def outsider_names(self):
        """Names anonymize masked wherever they were written, hashed (runtime.names.HashedNames)."""
        component = self.components.get("person")
        if not component or not component.get("outsiders"):
            return None
        from runtime.names import HashedNames

        path = self.root / component["outsiders"]
        return HashedNames.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @property
    def pii_entities(self) -> tuple[str, ...]:
        """The PII types anonymize masked in the training data (recorded by package): live windows
        are masked the same way. Older bundles: every type."""
        from runtime.pii import ENTITIES

        return tuple(self.components["chat_model"].get("pii_entities", ENTITIES))

    @property
    def name_rule(self) -> int:
        """The shortest name masked in text (anonymize's min_name_chars, recorded by package)."""
        return int(self.components.get("names", {}).get("min_name_chars", 2))

    @property
    def policy(self) -> dict:
        return json.loads((self.root / self.components["policy"]["path"]).read_text(encoding="utf-8"))


class VerifiedFiles:
    """What was hashed before, kept outside the bundle: path -> [size, mtime_ns, sha256]. A file
    whose size and modification time are unchanged since it hashed to what the manifest expects is
    not hashed again (a start no longer reads tens of GB); anything else is. `doctor` always hashes
    everything. Default place: %LOCALAPPDATA%\\Still (Windows), ~/.cache/still, or $STILL_CACHE_DIR."""

    def __init__(self, root: Path, folder: Path | None = None):
        folder = folder or default_cache_dir()
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
        self.path = folder / f"verified-{key}.json"
        try:
            self.entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.hashed = 0

    def sha256(self, rel: str, path: Path, expected: str) -> str:
        st = path.stat()
        seen = self.entries.get(rel)
        if seen and seen[:2] == [st.st_size, st.st_mtime_ns] and seen[2] == expected:
            return expected
        self.hashed += 1
        digest = sha256_of(path)
        self.entries[rel] = [st.st_size, st.st_mtime_ns, digest]
        return digest

    def save(self) -> None:
        # a read-only profile: verification still happened, only slower next time
        with contextlib.suppress(OSError):
            write_json(self.path, self.entries, indent=None)


def default_cache_dir() -> Path:
    if os.environ.get("STILL_CACHE_DIR"):
        return Path(os.environ["STILL_CACHE_DIR"])
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "Still"
    return Path.home() / ".cache" / "still"


def verify(root: Path, cache: VerifiedFiles | None = None) -> list[str]:
    """Problems with the bundle at `root` (empty when it is intact). With a `cache`, files
    unchanged since they last matched are not hashed again."""
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        return [f"{manifest_path} not found: not a Still bundle (build one with `dvc repro package`)"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        return [f"{manifest_path}: not valid JSON ({e}); copy the bundle again"]
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        return [f"{manifest_path}: schema version {version}, this runtime reads {SCHEMA_VERSION}; "
                "update the runtime or rebuild the bundle"]  # fmt: skip
    listed = manifest.get("files", {})
    files, links = walk(root)
    problems = [f"{rel}: a symbolic link (a bundle holds plain files only); copy it again" for rel in links]
    problems += [f"{rel}: a path outside the bundle in the manifest" for rel in listed if not inside(rel)]
    for rel, digest in listed.items():
        path = root / rel
        if not inside(rel) or rel in links:
            continue
        if not path.is_file():
            problems.append(f"{rel}: missing (listed in the manifest)")
        elif (cache.sha256(rel, path, digest) if cache else sha256_of(path)) != digest:
            problems.append(f"{rel}: changed since the bundle was built (sha256 mismatch)")
    problems += [f"{rel}: not part of the bundle (not in the manifest)" for rel in files if rel not in listed]
    for name, component in manifest.get("components", {}).items():
        if not inside(str(component.get("path", ""))):
            problems.append(f"component {name}: path {component.get('path')!r} is not inside the bundle")
        elif not (root / component["path"]).exists():
            problems.append(f"component {name}: {component['path']} missing")
    return problems


def open_bundle(
    root: str | Path, full: bool = False, cache_dir: Path | None = None, accept_new_key: bool = False
) -> Bundle:
    """The verified bundle at `root`; raises BundleError listing every problem (tampering, missing
    or extra files) so nothing from a damaged bundle is ever loaded. The manifest's signature must
    check out, by the key this PC trusts for the bundle's name (the first one seen, unless
    `accept_new_key`). Files unchanged (size and modification time) since they last matched are
    not hashed again unless `full`."""
    from runtime.signing import TrustedKeys, signer

    root = Path(root)
    cache = None if full else VerifiedFiles(root, cache_dir)
    problems = verify(root, cache)
    if cache is not None:
        cache.save()
    if problems:
        raise BundleError(f"bundle {root} failed verification:\n  " + "\n  ".join(problems) +
                          "\nRebuild it (dvc repro package) or copy it again.")  # fmt: skip
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    key = signer(root)
    trusted = TrustedKeys((cache_dir or default_cache_dir()) / "trusted_keys.json")
    trust = trusted.check(str(manifest.get("name", root.name)), key, accept_new_key)
    return Bundle(root, manifest, key, trust)
