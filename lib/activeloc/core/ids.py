"""Membership of video ids, fast on any string dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd


def among(values, ids) -> np.ndarray:
    """Boolean mask: whether each of ``values`` is one of ``ids``.

    A Python set lookup over object arrays: pandas' ``isin`` on its pyarrow-backed strings converts
    its argument element by element and costs ten times more, which the loop pays at every step.
    """
    wanted = set(ids.tolist() if isinstance(ids, (np.ndarray, pd.Index, pd.Series)) else ids)
    items = values.to_numpy(dtype=object) if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values, dtype=object)
    return np.fromiter((v in wanted for v in items), dtype=bool, count=len(items))
