"""Atomic writes: a reader never sees a half-written file, and a crash never truncates an old one."""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import joblib


@contextmanager
def atomic_path(path: str | os.PathLike, *, keep_previous: str | os.PathLike | None = None):
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    ``keep_previous``: where the file being replaced is moved first, so that the last good version
    survives a new one that turns out unreadable. The temporary's name carries this process's id,
    so that :func:`remove_stale_temporaries` can tell a dead writer's leftovers from a live one's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; outputs are meant to be read
        if keep_previous is not None and path.exists():
            _link_atomically(path, Path(keep_previous))  # a hard link: ``path`` never goes missing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link_atomically(source: Path, target: Path) -> None:
    link = target.with_name(f".{target.name}.pid{os.getpid()}.link{TEMPORARY_SUFFIX}")
    link.unlink(missing_ok=True)
    os.link(source, link)
    os.replace(link, target)


TEMPORARY_SUFFIX = ".tmp"
_WRITER = re.compile(r"\.pid(\d+)\.[^.]*\.tmp$")


def remove_stale_temporaries(folder: str | os.PathLike, name: str = "*", *, recursive: bool = False) -> list[Path]:
    """Delete the temporaries that writers killed mid-write left in ``folder`` (and below it, if
    ``recursive``) for target files matching ``name``; a temporary whose writer is still running is
    left alone. Returns what was deleted."""
    removed = []
    pattern = f".{name}.*{TEMPORARY_SUFFIX}"
    for tmp in Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern):
        writer = _WRITER.search(tmp.name)
        if writer and _running(int(writer.group(1))):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def write_json_atomic(obj, path: str | os.PathLike, **dump_kwargs) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, **dump_kwargs)


def dump_atomic(obj, path: str | os.PathLike, *, keep_previous: str | os.PathLike | None = None) -> int:
    """Pickle ``obj`` with joblib, atomically (see :func:`atomic_path`); returns the file's size in bytes."""
    with atomic_path(path, keep_previous=keep_previous) as tmp:
        joblib.dump(obj, tmp)
    return Path(path).stat().st_size


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
