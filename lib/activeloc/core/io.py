"""Atomic writes: a reader never sees a half-written file, and a crash never truncates an old one."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import joblib

from .errors import one_line
from .ids import NAME_MAX

TEMPORARY_SUFFIX = ".tmp"
OLD_TEMPORARY_SECONDS = 24 * 3600  # a temporary without its writer's name is stale after a day


def _writer_tag() -> str:
    """This process, as it appears in its temporaries' names: host and pid (a shared folder may be
    written from several machines, whose pids mean nothing here)."""
    return f"{socket.gethostname().replace('.', '-')}-pid{os.getpid()}"


_WRITER = re.compile(r"\.([^.]+)-pid(\d+)\.[^.]*\.tmp$")


class WriteError(OSError):
    """A write that failed with an error naming no file (a full disk): ``filename`` is the file being
    written, ``strerror`` the system's reason, and the message (one line) says what failed to be
    done to the file and what came of it."""

    def __init__(self, errno, strerror, filename, *, action: str = "write it",
                 outcome: str = "any earlier version of it is unchanged"):
        super().__init__(errno, strerror, filename)
        self.action, self.outcome = action, outcome

    def __str__(self) -> str:
        return f"{self.filename}: could not {self.action} ({self.strerror}); {self.outcome}"

    @classmethod
    def of(cls, exc: OSError, filename, **kwargs) -> WriteError:
        """``exc``, which names no file, as the failure to write ``filename``."""
        return cls(exc.errno, exc.strerror or one_line(exc), str(filename), **kwargs)


def _temporary_stem(name: str) -> str:
    """``name`` as its temporaries start, cut so that they fit in a file name (an id may make ``name``
    nearly as long as one): the dot, the stem, the writer's tag, mkstemp's 8 random characters."""
    room = NAME_MAX - len(f"..{_writer_tag()}.12345678{TEMPORARY_SUFFIX}".encode())
    return os.fsencode(name)[:room].decode(errors="ignore")


@contextmanager
def atomic_path(path: str | os.PathLike, *, keep_previous: str | os.PathLike | None = None):
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    ``keep_previous``: where the file being replaced is kept first (a hard link, so that ``path``
    never goes missing), so that the last good version survives a new one that turns out
    unreadable. The temporary's name carries its writer (host and pid), so that
    :func:`remove_stale_temporaries` can tell a dead writer's leftovers from a live one's. An
    ``OSError`` that names no file (a full disk) is raised as a :class:`WriteError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{_temporary_stem(path.name)}.{_writer_tag()}.", suffix=TEMPORARY_SUFFIX,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; outputs are meant to be read
        if keep_previous is not None and path.exists():
            _keep_copy(path, Path(keep_previous))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # "[Errno 28] No space left on device": but where?
            raise WriteError.of(exc, path) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keep_copy(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s content, atomically: a hard link, or a copy where the file
    system has none."""
    staged = target.with_name(f".{_temporary_stem(target.name)}.{_writer_tag()}.keep{TEMPORARY_SUFFIX}")
    staged.unlink(missing_ok=True)
    try:
        os.link(source, staged)
    except OSError:
        shutil.copyfile(source, staged)
        with open(staged, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(staged, target)


def private_opener(path, flags):
    """An ``opener`` for :func:`open` that creates files readable by their owner only: a file
    others can open, others can ``flock`` and so stall every writer (queues, lock files)."""
    return os.open(path, flags, 0o600)


def set_aside(path: str | os.PathLike, suffix: str = ".unreadable") -> Path:
    """Rename a damaged file to ``<name><suffix>`` (``<name><suffix>.2``, ... if taken), kept for a
    person to inspect and never read again; returns where it went."""
    path = Path(path)
    aside = path.with_name(path.name + suffix)
    for n in range(2, 10**6):
        if not aside.exists():
            break
        aside = path.with_name(f"{path.name}{suffix}.{n}")
    os.replace(path, aside)
    return aside


def remove_stale_temporaries(folder: str | os.PathLike, name: str = "*", *, recursive: bool = False) -> list[Path]:
    """Delete the temporaries that writers killed mid-write left in ``folder`` (and below it, if
    ``recursive``) for target files matching ``name``: those of this host whose process has ended,
    and those without a writer's name older than a day. Returns what was deleted."""
    removed = []
    pattern = f".{name if name == '*' else _temporary_stem(name)}.*{TEMPORARY_SUFFIX}"
    host = _writer_tag().rsplit("-pid", 1)[0]
    for tmp in Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern):
        writer = _WRITER.search(tmp.name)
        if writer:
            stale = writer.group(1) == host and not _running(int(writer.group(2)))
        else:
            try:
                stale = time.time() - tmp.stat().st_mtime > OLD_TEMPORARY_SECONDS
            except FileNotFoundError:
                continue
        if stale:
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


def dump_atomic(obj, path: str | os.PathLike) -> int:
    """Pickle ``obj`` with joblib, atomically (see :func:`atomic_path`); returns the file's size in bytes."""
    with atomic_path(path) as tmp:
        joblib.dump(obj, tmp)
    return Path(path).stat().st_size


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
