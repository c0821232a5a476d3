"""Learned selectors bootstrapped once per grid and kept as artefacts for the workers to load.

An artefact's name is a digest of what the bootstrap was computed from: the dataset's content,
the code, the Knowledge-Source sample size, the localizer template and the selector's parameters.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone

from ..active.base import LearnedSelector
from ..active.registry import base_selector_name, make_selector, wrap_selector
from ..core.fingerprint import check_code
from ..core.io import dump_atomic
from ..core.timing import timed
from .parallel import parallel_backend


def selector_artefact(cell: dict) -> Path:
    """Where the cell's learned selector is kept (one file for a selector and its variants)."""
    base = base_selector_name(cell["selector"])
    key = joblib.hash({"selector": base, "params": cell["selector_params"], "dataset": cell["dataset"],
                       "code": cell["code"], "knowledge_videos": cell["knowledge_videos"],
                       "localizer": cell["localizer"]}, hash_name="sha1")[:16]
    return Path(cell["dataset_dir"]) / "selectors" / f"{base}-{key}.joblib"


def bootstrapped_selector(cell: dict, knowledge_source, *, n_jobs: int = 1, scheduler: str | None = None):
    """The cell's selector, fitted on ``knowledge_source`` if it learns from it.

    A learned selector is loaded from :func:`selector_artefact` if that file exists, else fitted
    (learning with the cell's localizer unless its parameters name another) and written atomically
    there (not kept when the cell's ``dataset_dir`` is None).
    A variant (cost-aware, diverse) wraps the same bootstrap as its plain selector. The fit's joblib work
    (LAL's Monte-Carlo subsets) runs on ``n_jobs`` local processes, or on the Dask cluster at
    ``scheduler``.
    """
    selector = make_selector(base_selector_name(cell["selector"]), **cell["selector_params"])
    if isinstance(selector, LearnedSelector):
        artefact = None if cell["dataset_dir"] is None else selector_artefact(cell)
        if artefact is not None and artefact.exists():
            selector = joblib.load(artefact)
        else:
            check_code(cell["code"])
            if selector.localizer is None:
                selector.set_params(localizer=clone(cell["localizer"]))
            with timed() as elapsed, parallel_backend(n_jobs, scheduler):
                selector.fit(knowledge_source)
            selector.bootstrap_seconds_ = elapsed.seconds
            if artefact is not None:
                dump_atomic(selector, artefact)
    return wrap_selector(cell["selector"], selector)


def bootstrap_report(cells: list[dict]) -> pd.DataFrame:
    """One row per learned selector of ``cells`` (bootstrapped already): bootstrap seconds, artefact
    size and, for LAL, its Monte-Carlo samples and its regressor's quality on held-out states
    (R2 and the within-state Spearman correlation of predicted and true gains)."""
    columns = ["selector", "bootstrap_seconds", "artefact_bytes", "monte_carlo_samples", "regressor_r2",
               "within_state_spearman"]
    rows = []
    for name, cell in {base_selector_name(c["selector"]): c for c in cells}.items():
        path = None if cell["dataset_dir"] is None else selector_artefact(cell)  # None: no artefact kept
        if path is not None and path.exists():
            selector = joblib.load(path)
            samples = getattr(selector, "training_data_", None)
            rows.append({"selector": name,
                         "bootstrap_seconds": getattr(selector, "bootstrap_seconds_", np.nan),
                         "artefact_bytes": path.stat().st_size,
                         "monte_carlo_samples": np.nan if samples is None else len(samples),
                         "regressor_r2": getattr(selector, "r2_", np.nan),
                         "within_state_spearman": getattr(selector, "within_state_spearman_", np.nan)})
    return pd.DataFrame(rows, columns=columns)
