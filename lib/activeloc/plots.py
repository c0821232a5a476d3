"""Figures, drawn with seaborn on matplotlib's non-interactive backend when run headless."""

from __future__ import annotations

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://matplotlib_inline", "module://ipympl")):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

TEMPORAL_ATTRIBUTES = {
    "duration": "video duration (s)",
    "length": "instance length (s)",
    "coverage": "instance coverage (length / duration)",
    "instances_per_video": "instances per video",
}


def plot_temporal_comparison(simulated: dict, real: dict, ks: pd.DataFrame):
    """Four panels, simulated against real, one per temporal attribute, KS distance in each title."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    ks = ks.set_index("attribute")["ks"]
    for ax, (attr, xlabel) in zip(axes, TEMPORAL_ATTRIBUTES.items()):
        frame = pd.concat([
            pd.DataFrame({"value": np.asarray(simulated[attr], dtype=float), "data": "simulated"}),
            pd.DataFrame({"value": np.asarray(real[attr], dtype=float), "data": "ActivityNet 1.3"}),
        ], ignore_index=True)
        if attr == "instances_per_video":
            frame["value"] = frame["value"].clip(upper=8)
            sns.histplot(frame, x="value", hue="data", discrete=True, stat="proportion",
                         common_norm=False, multiple="dodge", shrink=0.8, ax=ax)
            ax.set_xlabel("instances per video (8 = 8 or more)")
        else:
            sns.ecdfplot(frame, x="value", hue="data", ax=ax)
            ax.set_xlim(0, frame["value"].quantile(0.995))  # a few very long videos would squash the rest
            ax.set_xlabel(xlabel)
            ax.set_ylabel("cumulative fraction")
        ax.set_title(f"{attr.replace('_', ' ')}: KS = {ks[attr]:.3f}")
    fig.suptitle("Simulated temporal structure against real ActivityNet 1.3 (training + validation)")
    fig.tight_layout()
    return fig
