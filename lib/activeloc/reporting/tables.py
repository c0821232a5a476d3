"""Tables and figures as files: CSV with a Markdown twin, PNG, all written atomically; and a
compact view of interval tables and timings for reading in a notebook."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..core.io import atomic_path, write_text_atomic
from ..core.timing import WALL_CLOCK_COLUMNS


def save_table(df: pd.DataFrame, path: str | os.PathLike, *, markdown: bool = True, floatfmt: str = ".4g",
               shown: pd.DataFrame | None = None) -> None:
    """Write ``df`` as CSV at ``path`` (and as Markdown beside it), atomically. ``shown``: what the
    Markdown twin shows instead of ``df`` (e.g. intervals folded into readable cells)."""
    path = Path(path)
    write_text_atomic(df.to_csv(index=False), path.with_suffix(".csv"))
    if markdown:
        md = df if shown is None else shown
        write_text_atomic(md.to_markdown(index=False, floatfmt=floatfmt) + "\n", path.with_suffix(".md"))


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")


def with_intervals(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``<col>_mean, <col>_ci_low, <col>_ci_high`` columns folded into one readable column
    ``<col>`` (``"0.658 [0.598, 0.718]"``); other columns kept. For display: the CSV keeps numbers."""
    out = table.copy()
    for mean in [c for c in table.columns if c.endswith("_mean")]:
        col = mean[: -len("_mean")]
        low, high = f"{col}_ci_low", f"{col}_ci_high"
        if low in table.columns and high in table.columns:
            out[col] = [f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if pd.notna(m) else "n/a"
                        for m, lo, hi in zip(table[mean], table[low], table[high])]
            out = out.drop(columns=[mean, low, high])
    return out


def readable_timings(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The wall-clock columns (:data:`~activeloc.core.timing.WALL_CLOCK_COLUMNS`) written with their
    unit (``"1.23 s"``), other columns kept. For display: a notebook rerun reproduces every output
    but these, and nbval's sanitize file (``notebooks/nbval-sanitize.cfg``) recognises them by the unit."""
    out = table.copy()
    for col in WALL_CLOCK_COLUMNS & set(table.columns):
        out[col] = [f"{x:.{digits}f} s" if pd.notna(x) else "n/a" for x in table[col]]
    return out
