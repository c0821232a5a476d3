"""The data a study runs on: Selection, Testing and Knowledge-Source of a dataset folder,
optionally subsampled, cached in memory by the folder's content.

The cache key is the dataset's fingerprint (a digest of its files) and the subsample sizes, so a
dataset rewritten in place (01-dataset run again with other settings) is never served from an
old entry, in this process or in a worker process that outlived the change. A cell planned for
one dataset and run after the folder changed fails instead of mixing old settings with new data.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

from ..core.errors import InputError
from ..data.dataset import Dataset, DerivedData, dataset_fingerprint, load_dataset
from ..data.splits import draw_subset


class DatasetChanged(InputError, RuntimeError):
    """The dataset folder no longer holds the data a grid was planned for."""


class StudyData(NamedTuple):
    selection: Dataset
    testing: Dataset
    knowledge: Dataset
    fingerprint: str


def load_study_data(dataset_dir, *, selection_videos: int | None = None, testing_videos: int | None = None,
                    knowledge_videos: int | None = None, fingerprint: str | None = None) -> StudyData:
    """Selection, Testing and Knowledge-Source of the dataset folder, each subsampled to the given
    number of videos (None or 0: all; seed 0, the same for every run). With ``fingerprint``, the
    folder must still hold that content."""
    current = dataset_fingerprint(dataset_dir)
    if fingerprint is not None and current != fingerprint:
        raise DatasetChanged(f"{dataset_dir}: the dataset changed since the runs were planned "
                             f"(fingerprint {current}, expected {fingerprint}); plan them again")
    return _load(str(Path(dataset_dir).resolve()), current, selection_videos or 0, testing_videos or 0,
                 knowledge_videos or 0)


@functools.lru_cache(maxsize=2)  # a dataset holds its candidate matrix: keep few
def _load(folder: str, fingerprint: str, selection_videos: int, testing_videos: int,
          knowledge_videos: int) -> StudyData:
    data = load_dataset(folder)
    chosen = [sorted(draw_subset(data.split(name).video_ids, n, random_state=0))
              for name, n in (("selection", selection_videos), ("testing", testing_videos),
                              ("knowledge_source", knowledge_videos))]
    # One derived-data store for the three, so that candidates are encoded once for all of them.
    universe = chosen[0] + chosen[1] + chosen[2]
    data = Dataset(data.ground_truth, data.features, universe, data.splits,
                   derived=DerivedData(universe, data.derived.store))
    return StudyData(*(data.subset(ids) for ids in chosen), fingerprint)
