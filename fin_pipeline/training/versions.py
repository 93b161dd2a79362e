"""Which code and which data produced an artifact: stored in every checkpoint and shown in the UI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import fin_pipeline


def code_version() -> str:
    """The package version and a hash of its source files: which code produced a checkpoint."""
    root = Path(fin_pipeline.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{fin_pipeline.__version__}+{digest.hexdigest()[:12]}"


def data_version(paths: list[Path]) -> str:
    """A hash of the feature files a fold was trained on (their bytes, in ticker order)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]
