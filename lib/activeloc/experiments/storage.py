"""Tidy tables stored as Parquet parts: one file per finished run, read back as one table."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..core.io import atomic_path


def save_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as Parquet, atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def read_table(folder: str | os.PathLike) -> pd.DataFrame:
    """All the Parquet parts of a folder as one table (empty if none)."""
    parts = sorted(Path(folder).glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()
