"""Signed bundles: the Linux side signs manifest.json, the Windows side checks who signed it.

    sign(root, key_file)        package: manifest.sig = Ed25519 signature of manifest.json's bytes
    signer(root) -> public key  runtime: the signature checked; BundleError if missing or wrong
    TrustedKeys().check(name, key)  runtime: the first bundle of a name pins its key on this PC;
                                    a bundle of that name signed by another key is refused

The checksums in manifest.json catch corruption; the signature makes them mean "built by the
machine that holds the key" (data/private/bundle_signing_key.pem, never in a bundle). Ed25519
through `cryptography` (pyca).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from runtime.atomic import write_json
from runtime.bundle import MANIFEST, MANIFEST_SIG, BundleError, default_cache_dir

ALGORITHM = "ed25519"


def load_or_create_key(path: str | Path):
    """The build machine's private key (PEM, PKCS#8), created on first use, readable by its owner only."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if path.is_file():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def public_hex(key) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def sign(root: Path, key_file: str | Path) -> str:
    """Write manifest.sig for the bundle at `root`; returns the public key (hex)."""
    key = load_or_create_key(key_file)
    signature = key.sign((root / MANIFEST).read_bytes())
    record = {
        "algorithm": ALGORITHM,
        "public_key": public_hex(key.public_key()),
        "signature": signature.hex(),
    }
    (root / MANIFEST_SIG).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record["public_key"]


def signer(root: Path) -> str:
    """The public key (hex) whose signature over manifest.json checks out."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig_file = root / MANIFEST_SIG
    if not sig_file.is_file():
        raise BundleError(
            f"{sig_file} not found: the bundle is not signed; rebuild it with `dvc repro package`"
        )
    try:
        record = json.loads(sig_file.read_text(encoding="utf-8"))
        if record.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm {record.get('algorithm')!r}")
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(record["public_key"]))
        key.verify(bytes.fromhex(record["signature"]), (root / MANIFEST).read_bytes())
    except InvalidSignature:
        raise BundleError(
            f"{root / MANIFEST}: the signature does not match (the manifest was changed after it was "
            "signed); copy the bundle again"
        ) from None
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{sig_file}: not a valid signature record ({e}); copy the bundle again") from None
    return record["public_key"]


class TrustedKeys:
    """Bundle name -> the public key this PC accepted for it (first use), kept outside any bundle."""

    def __init__(self, path: Path | None = None):
        self.path = path or default_cache_dir() / "trusted_keys.json"
        try:
            self.keys = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.keys = {}

    def check(self, name: str, public_key: str, accept_new: bool = False) -> str:
        """'pinned' (first use), 'trusted', or 'replaced' (accept_new); BundleError for a bundle of a
        known name signed by another key."""
        known = self.keys.get(name)
        if known and known["public_key"] == public_key:
            return "trusted"
        if known and not accept_new:
            raise BundleError(
                f"bundle {name!r} is signed by key {public_key[:16]}…, but this PC has trusted {name!r} from "
                f"key {known['public_key'][:16]}… since {known['since']}. If you rebuilt it on another "
                "machine yourself, accept the new key with `python -m runtime doctor --bundle DIR "
                "--trust-new-key`; otherwise do not use this bundle"
            )
        self.keys[name] = {"public_key": public_key, "since": datetime.date.today().isoformat()}
        write_json(self.path, self.keys, indent=1)
        return "replaced" if known else "pinned"
