"""Run the numbered notebooks in order through papermill with a named profile's parameters.

Profiles: see :mod:`activeloc.reporting.profiles`. A sub-table ``"<stem>@<variant>"`` runs the
notebook once more, right after, with its values over the stem's: this is how the notebooks run
on a second testbed. A run whose ``testbed`` cannot be built here (its real data absent) is
skipped with the reason, and so is a notebook whose metadata says it ``needs`` a testbed's data
that is absent. Executed copies go to ``reports/notebooks/`` (``<stem>@<variant>.ipynb``
for a variant); a failed one is kept there for inspection. At the end the key figures of the
tables go to ``reports/SUMMARY.md`` (:mod:`activeloc.reporting.summary`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nbformat
import papermill as pm
from tqdm.auto import tqdm

from ..core.errors import InputError, one_line
from ..core.io import remove_stale_temporaries
from ..core.paths import project_root
from ..core.timing import timed
from ..data.dataset import NotADatasetFolder, check_dataset_folder
from ..data.testbeds import missing_testbed_data, testbed_dirs
from .profiles import ProjectFileError, UnknownName, check_profile, load_profiles, runs_of
from .summary import write_summary


class PipelineError(RuntimeError):
    """A notebook failed; names the notebook, the cell and where the failed copy is."""


def notebooks(root: Path | None = None, only=None) -> list[Path]:
    """The pipeline's notebooks in order; ``only`` keeps those whose number (``"01"``) or stem is listed."""
    root = root or project_root()
    found = sorted(p for p in (root / "notebooks").glob("[0-9][0-9]*-*.ipynb") if ".ipynb_checkpoints" not in str(p))
    if only:
        wanted = [str(x) for x in only]
        unknown = [w for w in wanted if not any(w in (p.stem, p.stem.split("-")[0]) for p in found)]
        if unknown:
            raise UnknownName(f"no notebook {', '.join(map(repr, unknown))} in notebooks/; there are "
                              f"{', '.join(p.stem for p in found)}")
        found = [p for p in found if p.stem in wanted or p.stem.split("-")[0] in wanted]
    return found


DATASET_NOTEBOOK = "01-dataset"


class MissingDataset(InputError):
    """A notebook would read a dataset that is not there and that this run does not write."""


def _metadata(nb: Path) -> dict:
    """The notebook's ``activeloc`` metadata (``reads``, ``needs``)."""
    try:
        return nbformat.read(nb, as_version=4).metadata.get("activeloc", {})
    except Exception as exc:  # nbformat raises its own kinds for a file that is not a notebook
        raise ProjectFileError(f"{nb}: not a readable notebook ({one_line(exc)})") from None


def _check_datasets(todo, root: Path) -> None:
    """Refuse, before any notebook runs, a run of a notebook that reads its testbed's dataset
    (``"reads": ["dataset"]`` in its ``activeloc`` metadata) when that dataset is neither there nor
    written by 01 earlier in this pipeline."""
    written = {params.get("testbed", "simulated") for nb, _, params in todo if nb.stem == DATASET_NOTEBOOK}
    for nb, name, params in todo:
        testbed = params.get("testbed", "simulated")
        folder = testbed_dirs(testbed, root)["dataset"]
        reads = _metadata(nb).get("reads", [])
        if "dataset" not in reads or testbed in written or missing_testbed_data(testbed, root):
            continue
        try:
            check_dataset_folder(folder)
        except NotADatasetFolder as exc:
            raise MissingDataset(f"{name} reads the dataset that {DATASET_NOTEBOOK} writes, which is not complete "
                                 f"({exc}): run `activeloc reproduce --only 01` first, or with it") from None


def missing_needs(nb: Path, root: Path | None = None) -> str | None:
    """Why a notebook that needs a testbed's real data whatever its own testbed (``"needs":
    ["kinetics"]`` in its ``activeloc`` metadata, e.g. Figure 4 and Table 1) cannot run here, or None."""
    needs = _metadata(nb).get("needs", [])
    return next((f"{name} data: {reason}" for name in needs if (reason := missing_testbed_data(name, root))), None)


def run_pipeline(profile: str = "quick", only=None, *, root: Path | None = None,
                 kernel_name: str = "python3", overrides: dict | None = None) -> list[dict]:
    """Execute the notebooks, then write ``reports/SUMMARY.md``; returns one record per run
    (``notebook, output, seconds``, and ``skipped`` with the reason for a run whose testbed's
    data is absent).

    ``overrides`` maps a notebook stem (or ``stem@variant``) to parameters that take precedence
    over the profile's; a stem's apply to its variants too.
    """
    root = root or project_root()
    profiles = load_profiles(root)
    check_profile(profiles, profile)
    for folder in (root / "reports", root / "data" / "processed"):  # what killed writers left behind
        remove_stale_temporaries(folder, recursive=True)
    out_dir = root / "reports" / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}
    todo = [(nb, name, {**params, **overrides.get(nb.stem, {}), **overrides.get(name, {})})
            for nb in notebooks(root, only) for name, params in runs_of(profiles[profile], nb.stem)]
    _check_datasets(todo, root)
    records = []
    for nb, name, params in tqdm(todo, desc=f"pipeline ({profile})", unit="notebook"):
        params.setdefault("profile", profile)
        output = out_dir / f"{name}.ipynb"
        reason = missing_testbed_data(params.get("testbed", "simulated"), root) or missing_needs(nb, root)
        if reason:
            tqdm.write(f"skipping {name}: {reason}")
            records.append({"notebook": output.name, "output": None, "seconds": 0.0, "skipped": reason})
            continue
        try:
            with timed() as elapsed:
                # The kernel logs errors only: its warning about TCP on loopback would repeat once per notebook.
                pm.execute_notebook(nb, output, parameters=params, cwd=str(root), kernel_name=kernel_name,
                                    progress_bar=True, extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except pm.PapermillExecutionError as exc:
            raise PipelineError(
                f"{nb.relative_to(root)}{'' if name == nb.stem else f' (run {name})'}: cell {exc.exec_count} (index {exc.cell_index}) failed with "
                f"{exc.ename}: {exc.evalue}; the failed copy is {output.relative_to(root)}"
            ) from None
        records.append({"notebook": output.name, "output": str(output), "seconds": elapsed.seconds,
                        "finished": dt.datetime.now().isoformat(timespec="seconds")})
    write_summary(root, profile, records)
    return records
