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

import ipywidgets as widgets
import numpy as np
import pandas as pd
from markupsafe import Markup

from ..core.errors import one_line
from ..experiments.inspection import inspect_step, list_runs, side_by_side
from .panel import error
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
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


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
            bars = Markup("").join(Markup("<span class='activeloc-bar' title='{:.3f}' style='height:{:.0f}px'></span>")
                                   .format(float(v), 40 * float(v) / peak) for v in value)
            items.append(Markup("<tr><th>{}</th><td><div class='activeloc-bars'>{}</div></td></tr>").format(key, bars))
        else:
            items.append(Markup("<tr><th>{}</th><td>{}</td></tr>").format(key, _format(value)))
    return (Markup("<table class='activeloc-evidence'>{}</table>").format(Markup("").join(items)) if items
            else Markup("<i>no evidence: a random draw</i>"))


class RunInspector(widgets.VBox):
    """The replayable runs of a grid folder, one step at a time.

    ``folders``: a grid folder, or several by name (e.g.
    :func:`~activeloc.experiments.inspection.grid_folders`: every testbed's), picked in the first
    box. ``folder``, ``run_id`` and ``compare`` preselect the folder, the run and the one beside it
    (None: the first folder and run, none beside it); ``step`` the selection step. ``inspection``
    and ``compared`` hold the current :class:`~activeloc.experiments.inspection.StepInspection` s,
    ``timeline`` the open video's timeline (None before a click).
    """

    def __init__(self, folders, *, folder: str | None = None, run_id: str | None = None, compare: str | None = None,
                 step: int = 0, width: int = 900):
        self.folders = dict(folders) if isinstance(folders, dict) else {str(folders): folders}
        if not self.folders:
            raise ValueError("no grid folder to inspect (run a grid first: notebook 03 writes one)")
        self.width = width
        wide = widgets.Layout(width="420px")
        self.folder_box = widgets.Dropdown(options=list(self.folders), value=folder or next(iter(self.folders)),
                                           description="Runs of", layout=wide)
        self.run_box = widgets.Dropdown(description="Run", layout=wide)
        self.compare_box = widgets.Dropdown(description="Beside", layout=wide)
        self.step_box = widgets.BoundedIntText(value=step, min=0, description="Step", layout=widgets.Layout(width="160px"))
        self.status = widgets.HTML()
        self.batch = widgets.VBox(layout=widgets.Layout(flex="0 0 auto"))
        self.beside = widgets.VBox(layout=widgets.Layout(flex="0 0 auto", margin="0 0 0 32px"))
        self.detail_title = widgets.HTML()
        self.detail = widgets.HTML()
        self.timeline_box = widgets.VBox()
        self.inspection = self.compared = self.timeline = None
        self._cache: dict = {}
        self._loading = False
        super().__init__([widgets.HTML(STYLE), self.folder_box, widgets.HBox([self.run_box, self.step_box]),
                          self.compare_box, self.status,
                          widgets.HBox([self.batch, self.beside], layout=widgets.Layout(overflow="auto")),
                          self.detail_title, self.detail, self.timeline_box])
        self.add_class("activeloc-inspector")
        self.folder_box.observe(lambda _: self._load(), "value")
        for box in (self.run_box, self.compare_box, self.step_box):
            box.observe(lambda _: None if self._loading else self.show(), "value")
        self._load(run_id, compare)

    @property
    def out_dir(self):
        return self.folders[self.folder_box.value]

    def _load(self, run_id: str | None = None, compare: str | None = None) -> None:
        """The chosen folder's replayable runs in the boxes, then its first (or ``run_id``) shown."""
        runs = list_runs(self.out_dir)
        self.runs = runs[runs["replayable"]].set_index("run_id")
        options = [(_run_label(run), rid) for rid, run in self.runs.iterrows()]
        self._loading = True
        try:
            self.run_box.options = options
            self.compare_box.options = [("none", None)] + options
            self.run_box.value = run_id or (options[0][1] if options else None)
            self.compare_box.value = compare
        finally:
            self._loading = False
        if self.runs.empty:
            why = sorted(set(runs["why_not"])) if len(runs) else ["no run kept its cell here"]
            self.status.value = Markup("no replayable run in {}: {}").format(self.out_dir, "; ".join(why))
            self.batch.children = self.beside.children = self.timeline_box.children = ()
            return
        self.show()

    def _inspect(self, run_id: str, step: int):
        key = (self.folder_box.value, run_id, step)
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
            self.status.value = error(one_line(exc))
            return
        seen = self.inspection
        check = (Markup("the replay chose what the run recorded") if seen.matches_record
                 else Markup("<b>the replay differs from what the run recorded</b> (see recorded_video_id)"))
        self.status.value = Markup("{}, seed {}, step {} of {}: {} videos labelled, {} in the pool, {} chosen; {}").format(
            seen.selector_name, seen.seed, step, steps - 1, len(seen.replay.labelled.video_ids),
            len(seen.replay.pool.video_ids), len(seen.table), check)
        self.batch.children = self._table(seen, "Chosen", self.compared)
        if self.compared is not None:
            both = side_by_side(seen, self.compared)
            shared = int(both["a_also_chosen_by_other"].sum())
            self.beside.children = [widgets.HTML(Markup("<b>{}</b>: {} of {} videos chosen by both (●)").format(
                                        both.attrs["b"], shared, len(seen.table))),
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
            return widgets.HBox([widgets.HTML(Markup("{}").format(rank), layout=widgets.Layout(flex="0 0 44px")), middle,
                                 widgets.HTML(Markup("<div class='activeloc-row'>{}</div>").format(cells),
                                              layout=widgets.Layout(flex="0 0 auto"))])

        def spans(values):
            return Markup("").join(Markup("<span>{}</span>").format(v) for v in values)

        header = row_of("rank", widgets.HTML("video", layout=widgets.Layout(flex="0 0 154px")), spans(columns))
        rows = [widgets.HTML(Markup("<b>{}</b>").format(title)), header]
        for _, row in table.iterrows():
            vid = row["video_id"]
            button = widgets.Button(description=str(vid), tooltip=f"open {vid}'s timeline",
                                    layout=widgets.Layout(flex="0 0 150px"))
            button.add_class("activeloc-open-video")
            button.on_click(lambda _, vid=vid, s=seen: self.open_video(vid, s))
            rows.append(row_of(f"{row['rank']}{' ●' if vid in chosen_too else ''}", button,
                               spans(_format(row[c]) for c in columns)))
        return rows

    def open_video(self, video_id: str, seen=None) -> None:
        """Show ``video_id``'s evidence and timeline (ground truth, candidates, detections, and the
        segments the selector's utility rests on) as the run's model saw it at this step."""
        seen = seen or self.inspection
        row = seen.table.set_index("video_id").loc[video_id]
        self.detail_title.value = Markup("<h4 class='activeloc-detail-title'>{} · {} rank {} · utility {:.4g}</h4>").format(
            video_id, seen.selector_name, row["rank"], row["utility"])
        self.detail.value = evidence_html(row)
        self.timeline = timeline_for(seen.dataset, video_id, seen.replay.localizer, selector=seen.selector,
                                     width=self.width)
        self.timeline_box.children = [self.timeline]
