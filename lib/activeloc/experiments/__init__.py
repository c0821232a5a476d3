"""Layer 5, experiments: the grid of loop runs, learned selectors' bootstraps, studies and storage."""

from .bootstraps import bootstrap_report, bootstrapped_selector, selector_artefact
from .grid import cell_id, make_cells, run_cell, run_grid
from .inputs import DatasetChanged, StudyData, load_study_data
from .inspection import NotReplayable, StepInspection, find_run, grid_folders, inspect_step, list_runs, side_by_side
from .parallel import parallel_backend
from .storage import read_table
from .studies import (SelectionStudy, attention_transfer, full_data_reference, learning_curve, selection_study,
                      stage_ablation)
from .worlds import WorldsStudy, build_world, world_checks, world_grid, worlds_study

__all__ = ["DatasetChanged", "SelectionStudy", "StudyData", "attention_transfer", "bootstrap_report",
           "bootstrapped_selector", "cell_id", "full_data_reference", "learning_curve", "load_study_data", "stage_ablation",
           "make_cells", "parallel_backend", "read_table", "run_cell", "run_grid", "selection_study",
           "selector_artefact", "WorldsStudy", "build_world", "world_checks", "world_grid", "worlds_study",
           "NotReplayable", "StepInspection", "find_run", "grid_folders", "inspect_step", "list_runs", "side_by_side"]
