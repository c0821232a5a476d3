"""Category-disjoint splits as in the paper (4.1): Knowledge-Source, Selection and Testing.

Knowledge-Source holds videos of a quarter of the classes (50 of ActivityNet's 200) and bootstraps
the learned selectors; Selection holds videos of the other classes and is the pool that active
learning draws from; Testing holds unseen videos of the Selection classes. Sizes follow the paper's
proportions (2,790 / 11,160 / 3,724) as far as the data allows. Videos whose labels straddle the
two class groups belong to neither and are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .annotations import GroundTruth
from .attributes import instance_attributes

PAPER_SIZES = {"knowledge_source": 2790, "selection": 11160, "testing": 3724}
SPLITS = tuple(PAPER_SIZES)


def primary_labels(ground_truth: GroundTruth) -> pd.Series:
    """Each annotated video's primary class (indexed by ``video_id``, sorted): its class with the most
    instances, the first in sorted order on ties."""
    counts = ground_truth.instances.groupby(["video_id", "label"]).size().reset_index(name="n")
    counts = counts.sort_values(["video_id", "n", "label"], ascending=[True, False, True])
    return counts.drop_duplicates("video_id").set_index("video_id")["label"]


def make_splits(ground_truth: GroundTruth, *, n_source_classes: int | None = None,
                sizes: dict[str, int] = PAPER_SIZES, random_state=None) -> pd.DataFrame:
    """Assign annotated videos to splits; returns a table indexed by ``video_id`` with ``split, label``.

    ``label`` is the video's most frequent class (first in sorted order on ties), used to stratify
    Selection against Testing so that every Selection class is tested. ``n_source_classes``
    defaults to a quarter of the classes. Deterministic for a given ``random_state``.
    """
    rng = np.random.default_rng(random_state)
    inst = ground_truth.instances
    if inst.empty:
        raise ValueError("no annotated instances to split")
    classes = np.array(sorted(inst["label"].unique()))
    n_source = round(len(classes) / 4) if n_source_classes is None else n_source_classes
    if not 0 < n_source < len(classes):
        raise ValueError(f"n_source_classes must be between 1 and {len(classes) - 1}, got {n_source}")
    source_classes = set(rng.permutation(classes)[:n_source])

    primary = primary_labels(ground_truth)
    in_source = inst["label"].isin(source_classes).groupby(inst["video_id"]).agg(["all", "any"])
    source_ids = in_source.index[in_source["all"]].to_numpy()
    target_ids = in_source.index[~in_source["any"]].to_numpy()

    test_share = sizes["testing"] / (sizes["selection"] + sizes["testing"])
    strata = primary.loc[target_ids].to_numpy()
    _, per_class = np.unique(strata, return_counts=True)
    selection, testing = train_test_split(
        target_ids, test_size=test_share, random_state=int(rng.integers(2**31)),
        stratify=strata if per_class.min() >= 2 else None,
    )
    n_ks = min(len(source_ids), round(len(target_ids) * sizes["knowledge_source"]
                                      / (sizes["selection"] + sizes["testing"])))
    knowledge = rng.choice(source_ids, size=n_ks, replace=False)

    out = pd.concat([
        pd.DataFrame({"video_id": np.sort(knowledge), "split": "knowledge_source"}),
        pd.DataFrame({"video_id": np.sort(selection), "split": "selection"}),
        pd.DataFrame({"video_id": np.sort(testing), "split": "testing"}),
    ]).set_index("video_id")
    out["label"] = primary.loc[out.index]
    return out


def draw_subset(video_ids, size: int | None = None, *, ratio: float | None = None, random_state=None) -> list:
    """A uniformly random subset of ``video_ids``, in the order drawn: ``size`` videos, or a
    ``ratio`` of them (rounded, at least one). A size of None, 0 or at least the number of videos
    keeps them all (shuffled). The one rule for every random subset: the loop's initial labelled
    set, the learning curve's subsets and the grid's subsamples."""
    if (size is None) == (ratio is None) and not (size is None and ratio is None):
        raise ValueError("give a size or a ratio, not both")
    ids = np.asarray(list(video_ids), dtype=object)
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        size = max(1, round(ratio * len(ids)))
    if not size or size >= len(ids):
        size = len(ids)
    return check_random_state(random_state).permutation(ids)[:size].tolist()


def split_ground_truth(ground_truth: GroundTruth, splits: pd.DataFrame) -> dict[str, GroundTruth]:
    """One :class:`GroundTruth` per split name."""
    return {name: ground_truth.select(splits.index[splits["split"] == name]) for name in SPLITS}


def videos_left_out(ground_truth: GroundTruth, splits: pd.DataFrame) -> pd.Series:
    """How many annotated videos are in no split, by reason: videos of the Knowledge-Source classes
    beyond the paper's proportion for that split, and videos whose labels straddle both class groups."""
    source_classes = set(ground_truth.instances.loc[
        ground_truth.instances["video_id"].isin(splits.index[splits["split"] == "knowledge_source"]), "label"])
    inst = ground_truth.instances[~ground_truth.instances["video_id"].isin(splits.index)]
    in_source = inst.assign(src=inst["label"].isin(source_classes)).groupby("video_id")["src"].agg(["all", "any"])
    return pd.Series({"Knowledge-Source classes, beyond the paper's proportion": int(in_source["all"].sum()),
                      "labels in both class groups": int((in_source["any"] & ~in_source["all"]).sum())},
                     name="videos")


def split_statistics(ground_truth: GroundTruth, splits: pd.DataFrame) -> pd.DataFrame:
    """One row per split (and ``all``): videos, instances, classes and mean temporal statistics."""
    inst = instance_attributes(ground_truth).merge(splits[["split"]], left_on="video_id", right_index=True)
    rows = []
    for name in (*SPLITS, "all"):
        part = inst if name == "all" else inst[inst["split"] == name]
        ids = splits.index if name == "all" else splits.index[splits["split"] == name]
        rows.append({
            "split": name,
            "videos": len(ids),
            "instances": len(part),
            "classes": part["label"].nunique(),
            "mean_duration_s": float(ground_truth.videos["duration"].loc[ids].mean()),
            "instances_per_video": len(part) / max(len(ids), 1),
            "mean_length_s": float(part["length"].mean()),
            "mean_coverage": float(part["coverage"].mean()),
        })
    return pd.DataFrame(rows)
