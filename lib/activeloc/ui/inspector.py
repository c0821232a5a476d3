"""The run inspector: pick a run of a grid folder and a selection step; see the batch the selector
chose, ranked with its utilities and evidence; click a row to open that video's timeline; put a
second run's batch at the same step beside it.

The data come from :func:`~activeloc.experiments.inspection.inspect_step` (the step replayed and
explained, checked against what the run recorded); this module only lays them out. The evidence is
the selector's own (:meth:`~activeloc.active.base.Selector.explain`), shown without knowing which
selector gave it: in the table, the evidence columns that differ between the batch's videos (at most
:data:`TABLE_EVIDENCE`); for a clicked video, every value, a histogram as bars.
"""

from __future__ import annotations

import html
import os

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..core.errors import one_line
from ..experiments.inspection import inspect_step, list_runs, side_by_side
from .timeline import timeline_for

TABLE_EVIDENCE = 3  # evidence columns in the batch table (all of them show for a clicked video)
BASE_COLUMNS = ("rank", "video_id", "utility", "duration")
HIDDEN_COLUMNS = ("recorded_video_id", "recorded_utility")
STYLE = """<style>
.activeloc-row { white-space: nowrap; }
.activeloc-row span { display: inline-block; width: 112px; text-align: right; font-variant-numeric: tabular-nums;
                      overflow: hidden; text-overflow: ellipsis; }
.activeloc-evidence th { text-align: left; padding-right: 1em; font-weight: normal; color: #555; }
.activeloc-bars { display: flex; align-items: flex-end; gap: 2px; height: 42px; }
.activeloc-bar { display: inline-block; width: 10px; background: #4c72b0; }
.activeloc-error { color: #b00020; }
</style>"""


def _run_label(run: pd.Series) -> str:
    return f"{run['selector']} · seed {run['seed']} · batch {run['batch_size']} · noise {run['noise']:g}"


def _format(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return html.escape(str(value))


def _is_sequence(value) -> bool:
    return isinstance(value, (tuple, list, np.ndarray))


def table_evidence(table: pd.DataFrame, limit: int = TABLE_EVIDENCE) -> list[str]:
    """The evidence columns worth a column of the batch table: scalar, varying across the batch."""
    columns = []
    for column in table.columns:
        if column in BASE_COLUMNS or column in HIDDEN_COLUMNS:
            continue
        values = table[column]
        if len(values) and not _is_sequence(values.iloc[0]) and values.nunique(dropna=False) > 1:
            columns.append(column)
    return columns[:limit]


def evidence_html(row: pd.Series) -> str:
    """One video's evidence: a key-value table, each sequence (a histogram) as bars."""
    items = []
    for key, value in row.items():
        if key in BASE_COLUMNS or key in HIDDEN_COLUMNS:
            continue
        if _is_sequence(value):
            peak = max(max(value), 1e-12)
            bars = "".join(f"<span class='activeloc-bar' title='{v:.3f}' style='height:{40 * v / peak:.0f}px'></span>"
                           for v in value)
            items.append(f"<tr><th>{html.escape(key)}</th><td><div class='activeloc-bars'>{bars}</div></td></tr>")
        else:
            items.append(f"<tr><th>{html.escape(key)}</th><td>{_format(value)}</td></tr>")
    return f"<table class='activeloc-evidence'>{''.join(items)}</table>" if items else "<i>no evidence: a random draw</i>"


class RunInspector(widgets.VBox):
    """Runs of the grid folder ``out_dir`` (those still replayable), one step at a time.

    ``run_id`` and ``compare`` preselect the run and the one beside it (None: the first run, none
    beside it); ``step`` the selection step. ``inspection`` and ``compared`` hold the current
    :class:`~activeloc.experiments.inspection.StepInspection` s, ``timeline`` the open video's
    timeline (None before a click).
    """

    def __init__(self, out_dir: str | os.PathLike, *, run_id: str | None = None, compare: str | None = None,
                 step: int = 0, width: int = 900):
        self.out_dir, self.width = out_dir, width
        runs = list_runs(out_dir)
        self.runs = runs[runs["replayable"]].set_index("run_id")
        if self.runs.empty:
            raise ValueError(f"{out_dir}: no replayable run (run the grid first; list_runs says why not)")
        options = [(_run_label(run), rid) for rid, run in self.runs.iterrows()]
        self.run_box = widgets.Dropdown(options=options, value=run_id or options[0][1], description="Run",
                                        layout=widgets.Layout(width="420px"))
        self.compare_box = widgets.Dropdown(options=[("none", None)] + options, value=compare, description="Beside",
                                            layout=widgets.Layout(width="420px"))
        self.step_box = widgets.BoundedIntText(value=step, min=0, description="Step", layout=widgets.Layout(width="160px"))
        self.status = widgets.HTML()
        self.batch = widgets.VBox(layout=widgets.Layout(flex="0 0 auto"))
        self.beside = widgets.VBox(layout=widgets.Layout(flex="0 0 auto", margin="0 0 0 32px"))
        self.detail_title = widgets.HTML()
        self.detail = widgets.HTML()
        self.timeline_box = widgets.VBox()
        self.inspection = self.compared = self.timeline = None
        self._cache: dict = {}
        super().__init__([widgets.HTML(STYLE), widgets.HBox([self.run_box, self.step_box]), self.compare_box, self.status,
                          widgets.HBox([self.batch, self.beside], layout=widgets.Layout(overflow="auto")),
                          self.detail_title, self.detail, self.timeline_box])
        self.add_class("activeloc-inspector")
        for box in (self.run_box, self.compare_box, self.step_box):
            box.observe(lambda _: self.show(), "value")
        self.show()

    def _inspect(self, run_id: str, step: int):
        key = (run_id, step)
        if key not in self._cache:
            self._cache[key] = inspect_step(self.out_dir, run_id, step)
        return self._cache[key]

    def show(self) -> None:
        """Replay the chosen run(s) at the chosen step and lay the batch out."""
        run_id, other = self.run_box.value, self.compare_box.value
        steps = int(self.runs.loc[run_id, "steps"])
        self.step_box.max = steps - 1
        step = min(int(self.step_box.value), steps - 1)
        self.status.value = "replaying…"
        try:
            self.inspection = self._inspect(run_id, step)
            self.compared = self._inspect(other, step) if other is not None and step < self.runs.loc[other, "steps"] else None
        except Exception as exc:  # shown in the page, which has no traceback to read
            self.status.value = f"<span class='activeloc-error'>{html.escape(one_line(exc))}</span>"
            return
        seen = self.inspection
        check = ("the replay chose what the run recorded" if seen.matches_record
                 else "<b>the replay differs from what the run recorded</b> (see recorded_video_id)")
        self.status.value = (f"{seen.selector_name}, seed {seen.seed}, step {step} of {steps - 1}: "
                             f"{len(seen.replay.labelled.video_ids)} videos labelled, "
                             f"{len(seen.replay.pool.video_ids)} in the pool, {len(seen.table)} chosen; {check}")
        self.batch.children = self._table(seen, "Chosen", self.compared)
        if self.compared is not None:
            both = side_by_side(seen, self.compared)
            shared = int(both["a_also_chosen_by_other"].sum())
            self.beside.children = [widgets.HTML(f"<b>{html.escape(both.attrs['b'])}</b>: "
                                                 f"{shared} of {len(seen.table)} videos chosen by both (●)"),
                                    *self._table(self.compared, "Beside", seen, evidence_columns=1)]
        else:
            self.beside.children = []
        self.detail_title.value, self.detail.value, self.timeline_box.children = "", "", []
        self.timeline = None

    def _table(self, seen, title: str, other=None, evidence_columns: int = TABLE_EVIDENCE) -> list:
        """The batch as rows of widgets: the video's button opens its timeline; ``●`` marks a video
        that ``other`` (the run beside) chose too."""
        table = seen.table
        columns = ["utility", "duration", *table_evidence(table, evidence_columns)]
        chosen_too = set(other.video_ids) if other is not None else set()

        def row_of(rank, middle, cells):
            return widgets.HBox([widgets.HTML(rank, layout=widgets.Layout(flex="0 0 44px")), middle,
                                 widgets.HTML(f"<div class='activeloc-row'>{cells}</div>",
                                              layout=widgets.Layout(flex="0 0 auto"))])

        header = row_of("rank", widgets.HTML("video", layout=widgets.Layout(flex="0 0 154px")),
                        "".join(f"<span>{html.escape(c)}</span>" for c in columns))
        rows = [widgets.HTML(f"<b>{html.escape(title)}</b>"), header]
        for _, row in table.iterrows():
            vid = row["video_id"]
            button = widgets.Button(description=str(vid), tooltip=f"open {vid}'s timeline",
                                    layout=widgets.Layout(flex="0 0 150px"))
            button.add_class("activeloc-open-video")
            button.on_click(lambda _, vid=vid, s=seen: self.open_video(vid, s))
            cells = "".join(f"<span>{_format(row[c])}</span>" for c in columns)
            rows.append(row_of(f"{row['rank']}{' ●' if vid in chosen_too else ''}", button, cells))
        return rows

    def open_video(self, video_id: str, seen=None) -> None:
        """Show ``video_id``'s evidence and timeline (ground truth, candidates, detections, and the
        segments the selector's utility rests on) as the run's model saw it at this step."""
        seen = seen or self.inspection
        row = seen.table.set_index("video_id").loc[video_id]
        self.detail_title.value = (f"<h4 class='activeloc-detail-title'>{html.escape(str(video_id))} · "
                                   f"{html.escape(seen.selector_name)} rank {row['rank']} · utility {row['utility']:.4g}</h4>")
        self.detail.value = evidence_html(row)
        self.timeline = timeline_for(seen.dataset, video_id, seen.replay.localizer, selector=seen.selector,
                                     width=self.width)
        self.timeline_box.children = [self.timeline]
