"""Tidy tables stored as Parquet parts: one file per finished run, read back as one table."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.errors import one_line
from ..core.io import atomic_path, set_aside


def save_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as Parquet, atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def read_table(folder: str | os.PathLike, names=None) -> pd.DataFrame:
    """The Parquet parts of a folder (all, or those called ``<name>.parquet`` for ``names``) as one
    table (empty if none)."""
    parts = sorted(Path(folder).glob("*.parquet")) if names is None else [Path(folder) / f"{n}.parquet" for n in names]
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()


def readable_part(path: str | os.PathLike) -> bool:
    """True if ``path`` is a readable Parquet part. An unreadable one (cut short, overwritten by
    hand) is set aside as ``<name>.unreadable`` with a warning, so that what wrote it can write it
    again instead of every later read failing the same way."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        pq.read_metadata(path)
        return True
    except (pa.ArrowException, OSError) as exc:
        aside = set_aside(path)
        warnings.warn(f"{path}: unreadable ({one_line(exc)}); set aside as {aside.name} and computed again",
                      stacklevel=2)
        return False
