"""One signing key for every bundle the tests build (the runtime pins one key per bundle name, in
the session's STILL_CACHE_DIR)."""

import tempfile
from pathlib import Path

TEST_KEY = Path(tempfile.mkdtemp(prefix="still-key-")) / "bundle_signing_key.pem"
