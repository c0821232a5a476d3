"""Fingerprints of content: files, tables and the code that computes results.

Caches and stored results are keyed by what they were computed from, never by a name or an
object's identity, so that changed data or code can never be mixed with old results. Hashing a
large file is not free, so a file's digest is remembered for as long as its identity (path,
inode, size, modification time) is unchanged: an atomic rewrite gives a new inode, an in-place
edit a new modification time.

The code's fingerprint is taken once, when this module is imported: it names the code this
process runs, which is what its results were computed by, even if the files change later.
"""

from __future__ import annotations

import hashlib
import os
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from .errors import InputError

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


# The layers whose code decides a result (reporting and the command line only present them), and
# the libraries whose versions can change a fitted model.
RESULT_LAYERS = ("core", "data", "localization", "evaluation", "active", "experiments")
RESULT_LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "joblib", "h5py")


def code_on_disk() -> str:
    """A digest of the result layers' sources as they are on disk now, and of the libraries' versions."""
    package = Path(__file__).resolve().parents[1]
    sources = files_fingerprint(sorted(p for layer in RESULT_LAYERS for p in (package / layer).rglob("*.py")), package)
    libraries = ",".join(f"{name}={version(name)}" for name in RESULT_LIBRARIES)
    return hashlib.blake2b(f"{sources};{libraries}".encode(), digest_size=8).hexdigest()


_IMPORTED_CODE = code_on_disk()


def code_fingerprint() -> str:
    """The fingerprint of the code this process imported (see the module docstring)."""
    return _IMPORTED_CODE


class CodeChanged(InputError, RuntimeError):
    """Work planned by one version of the code reached a process that runs another."""


def check_code(expected: str) -> None:
    """Refuse to compute results for code ``expected`` in a process that imported other code."""
    if expected != _IMPORTED_CODE:
        raise CodeChanged(f"this process runs code {_IMPORTED_CODE}, the work was planned by code {expected}: "
                          "the package changed since it was imported; restart the kernel (and its workers)")


def frame_digest(frame) -> str:
    """A digest of a pandas table's values (index included), for keying what is derived from it."""
    return hashlib.blake2b(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes(),
                           digest_size=16).hexdigest()
