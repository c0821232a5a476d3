"""Fingerprints of content: files, folders of files and the package's own code.

Caches and stored results are keyed by what they were computed from, never by a name or an
object's identity, so that changed data or code can never be mixed with old results. Hashing a
large file is not free, so a file's digest is remembered for as long as its identity (path,
inode, size, modification time) is unchanged: an atomic rewrite gives a new inode, an in-place
edit a new modification time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

_FILE_DIGESTS: dict[tuple, str] = {}
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b digest (hex) of a file's bytes; ``"absent"`` for a missing file."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return "absent"
    identity = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if identity not in _FILE_DIGESTS:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        _FILE_DIGESTS[identity] = digest.hexdigest()
    return _FILE_DIGESTS[identity]


def files_fingerprint(paths, root: str | os.PathLike | None = None) -> str:
    """One short digest of several files' names (relative to ``root``) and contents, in the given order."""
    digest = hashlib.blake2b(digest_size=8)
    for path in paths:
        name = os.path.relpath(path, root) if root is not None else str(path)
        digest.update(f"{name}\0{file_digest(path)}\0".encode())
    return digest.hexdigest()


def code_fingerprint() -> str:
    """A digest of the package's Python sources: results computed by other code get another key."""
    package = Path(__file__).resolve().parents[1]
    return files_fingerprint(sorted(package.rglob("*.py")), package)


def frame_digest(frame) -> str:
    """A digest of a pandas table's values (index included), for keying what is derived from it."""
    return hashlib.blake2b(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes(),
                           digest_size=16).hexdigest()
