"""The Kinetics-Localization annotation campaign (paper 5.1): the active learner chooses which Kinetics
videos a person annotates temporally, and the annotations it gathered become a dataset.

The protocol (:func:`campaign_data`, :func:`run_campaign`):

- **Classes**: :func:`campaign_classes`, a fixed rule with no seed: the 75 classes with the most
  annotated videos, ties broken by name. The paper took 75 Kinetics classes without saying how; the
  rule gives the largest pool per class (the real files have 9 to 17 annotated videos per class).
- **Videos**: the annotated videos all of whose instances are of those classes (a video with a class
  outside them is left out and counted), each with its **Kinetics class** (its most annotated class,
  ties by name), the video-level label Kinetics gives. Per class, a fixed share (``test_share``, 30 %)
  is held out for the learning curve (seeded, stratified by class: :func:`campaign_split`); the rest
  is the **pool**.
- **What the learner sees**: the pool as a label-blind :class:`~activeloc.data.dataset.VideoSet`
  (ids, estimated durations, simulated features); the loop hands selectors nothing else. The videos'
  Kinetics classes are known to the campaign (they define the pool and tell the annotator which
  action to mark) but no registered selector reads them. Temporal annotations exist only for the
  videos the annotator has returned. One caveat: the durations are estimated from each video's last
  annotated end (Kinetics gives none), so a duration tells where the video's last action ends (to the
  duration model's inverse) and a selector that reads durations (the ``-per-second`` variants) reads
  that much of the truth.
- **Knowledge-Source** (what the learned selectors, MCLE and LAL, are bootstrapped on): the
  Knowledge-Source split of the ``activitynet`` testbed (real ActivityNet 1.3 annotations, the paper's
  category-disjoint split, seed 0; the 30 ids that are also Kinetics videos removed): a transfer
  between datasets. Where the ActivityNet file is absent, the Kinetics videos of the 525 other
  classes instead (said in ``knowledge_source``). Both sets get features from the same simulator
  settings and the same seed, so what transfers is what the simulator shares between datasets: the
  class-agnostic actionness direction and the feature statistics (noise, nuisance, context); the
  class directions do not (different class names draw different directions).
- **Annotator**: :class:`~activeloc.active.oracles.SimulatedAnnotator` (boundary disagreement
  proportional to the instance's length, short instances missed, annotation time per video), or, for
  a live session, the people's :class:`~activeloc.active.oracles.AnnotationQueue` read by a
  :class:`~activeloc.active.oracles.HumanOracle` (``oracle="queue"``).
- **Budget**: videos, or annotator hours by the time model (the loop stops once it is spent; the last
  batch may pass it). The initial random 10 % of the pool is annotated too and counts.
- **Runs**: per seed, a campaign with the chosen selector and one with Random, from the same initial
  10 % and the same annotator draws per step; evaluated on the held-out videos' true annotations at
  every step. Seeds drive the initial set, the selection ties, and the annotator's noise; the features
  and the split are fixed (``feature_seed``, ``split_seed``).
- **Collected dataset**: what the annotator returned in the selector's campaign of the first seed,
  written by :func:`write_collected` as an ActivityNet-layout file with a datasheet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from ..active.loop import ActiveLearningLoop
from ..active.oracles import AnnotationQueue, AnnotationTimeModel, HumanOracle, PendingAnnotations, SimulatedAnnotator
from ..core.fingerprint import code_fingerprint, frame_digest
from ..core.io import write_json_atomic, write_text_atomic
from ..data.annotations import ESTIMATED_FIELD, GroundTruth, write_ground_truth
from ..data.dataset import Dataset
from ..data.simulator import simulate_features
from ..data.splits import draw_subset, make_splits, primary_labels
from ..evaluation.curves import aggregate, aulc, paired_differences
from ..localization.localizer import StageWiseLocalizer
from .bootstraps import bootstrapped_selector
from .grid import selector_params_of
from .studies import full_data_reference

N_CLASSES = 75  # the paper's campaign (5.1)
COLLECTED_PATH = Path("data") / "processed" / "kinetics-campaign" / "collected.json"  # 08 reads it there
CLASS_RULE = ("classes with the most annotated videos (a video counts once per class it has an instance of), "
              "ties broken by class name; no seed")
ORACLES = ("simulated", "queue")


def campaign_classes(ground_truth: GroundTruth, n: int = N_CLASSES) -> list[str]:
    """The campaign's classes by the fixed rule :data:`CLASS_RULE`, most videos first."""
    counts = ground_truth.instances.drop_duplicates(["video_id", "label"]).groupby("label").size()
    if not 0 < n <= len(counts):
        raise ValueError(f"cannot choose {n} classes: the annotations have {len(counts)} classes with instances")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [label for label, _ in ranked[:n]]


def campaign_split(ground_truth: GroundTruth, classes, *, test_share: float = 0.3, random_state=0) -> pd.DataFrame:
    """The campaign's videos: indexed by ``video_id`` (sorted), columns ``split`` (``pool`` or
    ``testing``) and ``kinetics_class``. A video is in when all its instances are of ``classes``;
    per class ``round(test_share * n)`` of its ``n`` videos are held out (at least one when n > 1),
    drawn by ``random_state``."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    inst = ground_truth.instances
    inside = inst["label"].isin(set(classes)).groupby(inst["video_id"]).all()
    chosen = primary_labels(ground_truth).rename("kinetics_class").loc[inside.index[inside]].sort_index()
    rng = np.random.default_rng(random_state)
    split = pd.Series("pool", index=chosen.index, name="split")
    for label in sorted(chosen.unique()):
        ids = chosen.index[chosen == label].to_numpy()
        n_test = min(len(ids) - 1, max(1, round(test_share * len(ids)))) if len(ids) > 1 else 0
        split.loc[rng.permutation(ids)[:n_test]] = "testing"
    return pd.concat([split, chosen], axis=1)


@dataclass
class CampaignData:
    """The campaign's inputs. ``pool`` and ``testing`` hold the true annotations (only the simulated
    annotator and the evaluation read them; selectors get the pool label-blind); ``knowledge``: the
    Knowledge-Source set the learned selectors are bootstrapped on, described by ``knowledge_source``;
    ``videos``: :func:`campaign_split`'s table; ``left_out``: annotated videos of the classes that also
    have a class outside them; ``key``: a digest of all of it (for caches)."""

    pool: Dataset
    testing: Dataset
    knowledge: Dataset
    knowledge_source: str
    classes: list
    videos: pd.DataFrame
    left_out: int
    key: str

    def counts(self) -> pd.DataFrame:
        """One row per set: videos, instances, classes, seconds of video (estimated durations)."""
        rows = []
        for name, data in (("pool", self.pool), ("testing", self.testing), ("knowledge source", self.knowledge)):
            rows.append({"set": name, "videos": len(data.video_ids), "instances": len(data.instances),
                         "classes": data.instances["label"].nunique(),
                         "hours_of_video": float(data.durations().sum()) / 3600})
        return pd.DataFrame(rows)


def campaign_data(kinetics: GroundTruth, classes, *, knowledge: GroundTruth | None = None,
                  knowledge_name: str = "activitynet", knowledge_videos: int | None = None, feature_params=None,
                  feature_seed: int = 0, test_share: float = 0.3, split_seed: int = 0) -> CampaignData:
    """The campaign's pool, held-out videos and Knowledge-Source, with simulated features (see the
    module docstring). ``knowledge``: the previous dataset's annotations (its Knowledge-Source split is
    used); None: the Kinetics videos none of whose classes is among ``classes``. ``knowledge_videos``:
    at most that many Knowledge-Source videos (None or 0: all; seed 0)."""
    feature_params = dict(feature_params or {})
    videos = campaign_split(kinetics, classes, test_share=test_share, random_state=split_seed)
    inst = kinetics.instances
    touches = inst.loc[inst["label"].isin(set(classes)), "video_id"].unique()
    left_out = len(set(touches) - set(videos.index))
    if knowledge is not None:
        splits = make_splits(knowledge, random_state=0)
        ks_ids = [v for v in splits.index[splits["split"] == "knowledge_source"] if v not in kinetics.videos.index]
        description = (f"{knowledge_name}: its Knowledge-Source split (category-disjoint, seed 0), "
                       f"{len(splits.index[splits['split'] == 'knowledge_source']) - len(ks_ids)} ids shared with "
                       "Kinetics removed")
        source_gt = knowledge
    else:
        outside = ~inst["label"].isin(set(classes)).groupby(inst["video_id"]).any()
        ks_ids = outside.index[outside].tolist()
        description = (f"kinetics: the annotated videos of the {inst['label'].nunique() - len(classes)} classes "
                       f"outside the campaign's ({knowledge_name} data absent)")
        source_gt = kinetics
    if not ks_ids:
        raise ValueError(f"no Knowledge-Source videos to bootstrap learned selectors on ({description})")
    ks_ids = sorted(draw_subset(sorted(ks_ids), knowledge_videos or None, random_state=0))
    ks_gt = source_gt.select(ks_ids)
    gt = kinetics.select(videos.index)
    features = simulate_features(gt, random_state=feature_seed, **feature_params)
    ks_features = simulate_features(ks_gt, random_state=feature_seed, **feature_params)
    data = Dataset(gt, features)
    key = joblib.hash({"campaign": frame_digest(gt.instances), "durations": frame_digest(gt.videos[["duration"]]),
                       "videos": frame_digest(videos), "knowledge": frame_digest(ks_gt.instances),
                       "knowledge durations": frame_digest(ks_gt.videos[["duration"]]),
                       "features": feature_params, "seed": feature_seed}, hash_name="sha1")[:16]
    return CampaignData(data.subset(videos.index[videos["split"] == "pool"]),
                        data.subset(videos.index[videos["split"] == "testing"]),
                        Dataset(ks_gt, ks_features), f"{description}; {len(ks_ids)} videos", list(classes), videos,
                        left_out, key)


def bootstrap_selector(name: str, data: CampaignData, *, params: dict | None = None, localizer=None,
                       cache_dir: str | Path | None = None):
    """The selector ``name`` (a variant too: ``-per-second``, ``-diverse``); a learned one fitted on
    ``data.knowledge`` with ``localizer`` by :func:`~activeloc.experiments.bootstraps.bootstrapped_selector`,
    kept in ``<cache_dir>/selectors/`` (keyed by the campaign's data, the code, the localizer and the
    parameters) and read back from there."""
    cell = {"selector": name, "selector_params": dict(params or {}), "dataset": data.key, "code": code_fingerprint(),
            "knowledge_videos": len(data.knowledge.video_ids),
            "localizer": StageWiseLocalizer() if localizer is None else localizer, "dataset_dir": cache_dir}
    return bootstrapped_selector(cell, data.knowledge)


def make_annotator(data: CampaignData, *, oracle: str = "simulated", annotator: dict | None = None,
                   time_model: dict | None = None, queue_path=None):
    """The campaign's oracle: a :class:`SimulatedAnnotator` of the pool's truth with ``annotator``'s
    parameters, or a :class:`HumanOracle` reading the queue at ``queue_path``; both with the
    :class:`AnnotationTimeModel` of ``time_model``'s parameters."""
    timing = AnnotationTimeModel(**(time_model or {}))
    if oracle == "simulated":
        return SimulatedAnnotator(data.pool.ground_truth, time_model=timing, **(annotator or {}))
    if oracle == "queue":
        if queue_path is None:
            raise ValueError('oracle="queue" needs queue_path (the annotation queue the people submit to)')
        return HumanOracle(AnnotationQueue(queue_path), time_model=timing)
    raise ValueError(f"oracle must be one of {ORACLES}, got {oracle!r}")


@dataclass
class CampaignResult:
    """What :func:`run_campaign` returns.

    ``curves``: one row per run and step (the loop's history, ``campaign`` = ``selector`` or
    ``baseline``, ``hours_ratio``: annotator hours over those of the whole pool, ``fraction_of_full``);
    ``per_run``: one row per run (videos, hours, mAP at the budget, AULC against the labelled ratio of
    the pool and against the hours ratio; the runs of a seed compared over the range both cover); ``collected``: the annotations the selector's campaign of the
    first seed gathered (``video_id, t_start, t_end, label``) and ``collected_steps`` (``video_id,
    step``: 0 for the initial set, else the step that chose it); ``reference``: full-data fits (the
    pool's true annotations) per seed; ``settings``: how it was run; ``pending``: in queue mode, the
    videos awaiting the people (the campaign resumes from its checkpoint once they are submitted).
    """

    curves: pd.DataFrame
    per_run: pd.DataFrame
    collected: pd.DataFrame
    collected_steps: pd.DataFrame
    reference: pd.DataFrame
    full_map: float
    pool_hours: float
    settings: dict
    pending: list = field(default_factory=list)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per selector: ``campaign``, ``runs``, mean of ``videos`` and ``annotator_hours`` at
        the end, and for ``map_at_budget``, ``aulc_videos`` and ``aulc_hours`` the mean with its
        Student-t interval over seeds (:func:`~activeloc.evaluation.curves.aggregate`) and, beside a
        baseline, the difference to it paired by seed (``<col>_diff_vs_<baseline>_mean`` ...,
        :func:`~activeloc.evaluation.curves.paired_differences`)."""
        columns = ["map_at_budget", "aulc_videos", "aulc_hours"]
        runs = self.per_run
        ends = runs.groupby("selector").agg(campaign=("campaign", "first"), videos=("videos", "mean"),
                                            annotator_hours=("annotator_hours", "mean"))
        out = ends.join(aggregate(runs, "selector", columns, level).set_index("selector"))
        baseline = self.settings["baseline"]
        if baseline:
            paired = paired_differences(runs, baseline=baseline, columns=columns, level=level, keys=("seed",))
            out = out.join(paired.set_index("selector").drop(columns="pairs"))
        return out.reset_index()


def _area_until(run: pd.DataFrame, x: str, end: float) -> float:
    """AULC of ``fraction_of_full`` against ``x`` from the run's start to ``end`` (interpolated there)."""
    xs, ys = run[x].to_numpy(float), run["fraction_of_full"].to_numpy(float)
    inside = xs <= end
    return aulc(np.append(xs[inside], end), np.append(ys[inside], np.interp(end, xs, ys)))


def _per_run(curves: pd.DataFrame, budget_x: str = "hours_ratio") -> pd.DataFrame:
    """One row per run. The runs of one seed are compared where both have been: their AULCs cover the
    same range, from their common start (the same initial set) to where the first of them ended, and
    ``map_at_budget`` is the average mAP there, interpolated along ``budget_x`` (the budget's unit);
    so a campaign whose last batch passed the budget further gains nothing by it. ``map_final`` is
    the run's own last evaluation."""
    rows = []
    curves = curves.sort_values(["seed", "campaign", "step"])
    ends = curves.groupby(["seed", "run_id"])[["labelled_ratio", "hours_ratio"]].max().groupby("seed").min()
    for (campaign, selector, seed), run in curves.groupby(["campaign", "selector", "seed"], sort=False):
        last = run.iloc[-1]
        rows.append({"campaign": campaign, "selector": selector, "seed": seed, "steps": len(run),
                     "videos": int(last["labelled_videos"]), "labelled_ratio": last["labelled_ratio"],
                     "seconds_of_video": last["seconds_labelled"], "annotator_hours": last["annotator_hours"],
                     "map_at_budget": float(np.interp(ends.at[seed, budget_x], run[budget_x], run["average_mAP"])),
                     "map@0.5_at_budget": float(np.interp(ends.at[seed, budget_x], run[budget_x], run["mAP@0.50"])),
                     "map_final": last["average_mAP"],
                     "aulc_videos": _area_until(run, "labelled_ratio", ends.at[seed, "labelled_ratio"]),
                     "aulc_hours": _area_until(run, "hours_ratio", ends.at[seed, "hours_ratio"]),
                     "aulc_videos_range": ends.at[seed, "labelled_ratio"],
                     "aulc_hours_range": ends.at[seed, "hours_ratio"]})
    return pd.DataFrame(rows).sort_values(["campaign", "seed"], ascending=[False, True], ignore_index=True)


def run_campaign(data: CampaignData, selector: str = "mcle", *, seeds=(0,), baseline: str | None = "random",
                 batch_size: int = 16, budget_videos: int | None = None, budget_hours: float | None = None,
                 selector_params: dict | None = None, annotator: dict | None = None, time_model: dict | None = None,
                 oracle: str = "simulated", queue_path=None, localizer=None, cache_dir=None, checkpoint_dir=None,
                 progress: bool = True) -> CampaignResult:
    """The campaign and its Random partner per seed (see the module docstring).

    In queue mode (``oracle="queue"``) only the selector's campaign of the first seed runs (people
    annotate it once), checkpointed in ``checkpoint_dir`` (required): a step whose videos the queue
    does not have yet ends the call with ``pending`` listing them; call again once they are
    submitted, and the campaign resumes from its last finished step. The pool's true annotations are then
    not used: no full-data reference (``full_map`` and ``fraction_of_full`` are NaN, so are the AULCs;
    the curves in mAP stand), and ``pool_hours`` counts setup and watching time only (no instances).
    ``selector_params``: per selector name (a ``-per-second`` variant without its own takes its plain
    selector's)."""
    if budget_videos is None and budget_hours is None:
        raise ValueError("give a budget: budget_videos or budget_hours")
    if oracle == "queue" and checkpoint_dir is None:
        raise ValueError('oracle="queue" needs checkpoint_dir: a live campaign resumes as annotations arrive')
    localizer = StageWiseLocalizer() if localizer is None else localizer
    seeds = [int(s) for s in seeds]
    plan = [(selector, "selector")] + ([(baseline, "baseline")] if baseline and baseline != selector else [])
    if oracle == "queue":
        plan, seeds = plan[:1], seeds[:1]
    params = selector_params or {}
    selectors = {name: bootstrap_selector(name, data, params=selector_params_of(name, params),
                                          localizer=localizer, cache_dir=cache_dir) for name, _ in plan}
    # Live, the pool's instances are the people's to give: its hours then count setup and watching only.
    known = data.pool.instances if oracle == "simulated" else data.pool.instances.iloc[:0]
    pool_hours = float(AnnotationTimeModel(**(time_model or {})).seconds(data.pool.durations(), known).sum()) / 3600
    histories, collected, steps, pending = [], None, None, []
    runs = [(seed, name, role) for seed in seeds for name, role in plan]
    for seed, name, role in tqdm(runs, desc="campaigns", unit="run", disable=not progress):
        run_id = f"{name}-seed{seed}"
        loop = ActiveLearningLoop(
            clone(localizer), selectors[name], make_annotator(data, oracle=oracle, annotator=annotator,
                                                              time_model=time_model, queue_path=queue_path),
            batch_size=batch_size, budget_videos=budget_videos, budget_hours=budget_hours, run_id=run_id,
            random_state=seed, checkpoint=None if checkpoint_dir is None else Path(checkpoint_dir) / f"{run_id}.ckpt")
        try:
            result = loop.run(data.pool, data.testing, progress=False)
        except PendingAnnotations as exc:
            pending = exc.missing
            break
        histories.append(result.history.assign(campaign=role, selector=name))
        if role == "selector" and collected is None:
            collected = result.annotations
            chosen = result.selections[["video_id", "step"]].assign(step=lambda d: d["step"] + 1)
            initial = [v for v in result.labelled if v not in set(chosen["video_id"])]
            steps = pd.concat([pd.DataFrame({"video_id": initial, "step": 0}), chosen], ignore_index=True)
    settings = {"selector": selector, "baseline": None if oracle == "queue" else baseline, "seeds": seeds,
                "batch_size": int(batch_size), "budget_videos": budget_videos, "budget_hours": budget_hours,
                "selector_params": selector_params or {}, "oracle": oracle,
                "annotator": make_annotator(data, annotator=annotator, time_model=time_model).model_params()
                if oracle == "simulated" else {"queue": str(queue_path), "time_model": AnnotationTimeModel(
                    **(time_model or {})).get_params()},
                "initial_ratio": 0.1, "localizer": repr(localizer)}
    if pending:
        empty = pd.DataFrame()
        return CampaignResult(empty, empty, empty, empty, empty, np.nan, pool_hours, settings, pending)
    if oracle == "simulated":
        reference = full_data_reference(localizer, data.pool, data.testing, seeds)
        full_map = float(reference["average_mAP"].mean())
    else:  # people annotate the pool: its truth is theirs to give, so there is no full-data model to compare with
        reference, full_map = pd.DataFrame(), np.nan
    curves = pd.concat(histories, ignore_index=True).drop(columns=["noise"])
    curves["hours_ratio"] = curves["annotator_hours"] / pool_hours
    curves["fraction_of_full"] = curves["average_mAP"] / full_map
    per_run = _per_run(curves, "hours_ratio" if budget_hours is not None else "labelled_ratio")
    return CampaignResult(curves, per_run, collected, steps, reference, full_map, pool_hours, settings)


def collected_ground_truth(result: CampaignResult, data: CampaignData, kinetics: GroundTruth) -> GroundTruth:
    """The collected set as a ground truth: the videos the selector's campaign had annotated (subset
    ``training``), with the annotator's instances, each video's estimated duration (and its
    ``duration_estimated`` flag), ``url``, ``kinetics_class`` (the video-level label the annotator was
    asked to mark), ``campaign_step`` and ``annotator_seconds`` (by the time model)."""
    steps = result.collected_steps.set_index("video_id")["step"]
    ids = steps.index.tolist()
    videos = kinetics.videos.loc[ids].copy()
    keep = [c for c in ("duration", ESTIMATED_FIELD, "url", "clips") if c in videos.columns]
    videos = videos[keep].assign(subset="training")
    videos["kinetics_class"] = data.videos.loc[ids, "kinetics_class"].to_numpy()
    videos["campaign_step"] = steps.loc[ids].astype(int).to_numpy()
    timing = AnnotationTimeModel(**result.settings["annotator"]["time_model"])
    videos["annotator_seconds"] = timing.seconds(videos["duration"], result.collected).round(1).to_numpy()
    videos = videos[["subset", "duration", *[c for c in videos.columns if c not in ("subset", "duration")]]]
    instances = result.collected.sort_values(["video_id", "t_start", "t_end"], kind="stable").reset_index(drop=True)
    return GroundTruth(videos.sort_index(), instances, kinetics.version)


def datasheet(result: CampaignResult, data: CampaignData, collected: GroundTruth) -> dict:
    """The collected set's datasheet: what it holds, how it was collected, which fields are estimated."""
    inst, videos = collected.instances, collected.videos
    per_class = (videos.groupby("kinetics_class").size().rename("videos").to_frame()
                 .join(inst.groupby("label").size().rename("instances")).fillna(0).astype(int))
    s = result.settings
    budget = (f"{s['budget_hours']} annotator hours" if s["budget_hours"] is not None else f"{s['budget_videos']} videos")
    return {
        "name": "Kinetics-Localization (this reproduction's campaign)",
        "file": COLLECTED_PATH.name,
        "counts": {"videos": len(videos), "instances": len(inst), "classes": int(videos["kinetics_class"].nunique()),
                   "videos_without_instances": int(len(videos) - inst["video_id"].nunique()),
                   "instances_per_video": len(inst) / max(len(videos), 1),
                   "hours_of_video": float(videos["duration"].sum()) / 3600,
                   "annotator_hours": float(videos["annotator_seconds"].sum()) / 3600},
        "classes": {"rule": f"the {len(data.classes)} {CLASS_RULE}", "names": list(data.classes),
                    "per_class": {k: v for k, v in per_class.to_dict("index").items()}},
        "collection": {
            "source": "Kinetics-600 validation videos with manual temporal annotations (../shared/data/kinetics-600)",
            "pool": f"{len(data.pool.video_ids)} videos of those classes; {len(data.testing.video_ids)} more held "
                    "out (30 % per class, seeded) for the learning curve",
            "selector": s["selector"], "bootstrapped_on": data.knowledge_source,
            "budget": budget, "batch_size": s["batch_size"], "seed": s["seeds"][0],
            "initial_set": "a random 10 % of the pool, annotated first (counted in the budget)",
            "oracle": s["oracle"], "annotator_model": s["annotator"],
            "visible_to_the_learner": "video ids, estimated durations and simulated features of the pool (label-blind); "
                                      "each video's Kinetics class is known to the campaign but read by no selector; "
                                      "the durations are estimated from the last annotated end, so they tell where "
                                      "each video's last action ends",
        },
        "estimated_fields": {
            "duration": "estimated from the last annotated end by activeloc.data.durations (marked "
                        f"'{ESTIMATED_FIELD}': true per video); every coverage figure depends on it",
            "annotator_seconds": "by the annotation time model above, not measured",
            "annotations": "a simulated annotator's (the true Kinetics annotations with the noise model above), "
                           "not a person's" if s["oracle"] == "simulated" else "submitted by people through the queue",
            "features": "simulated (activeloc.data.simulator), not computed from video frames",
        },
        "videos_with_estimated_duration": int(collected.estimated_durations().sum()),
        "created": dt.date.today().isoformat(),
    }


def datasheet_markdown(sheet: dict) -> str:
    """The datasheet for reading."""
    c, col = sheet["counts"], sheet["collection"]
    lines = [f"# {sheet['name']}: datasheet", "", f"File: `{sheet['file']}` (ActivityNet layout, subset `training`). "
             f"Written {sheet['created']}.", "", "## Contents", "",
             f"- {c['videos']} videos, {c['instances']} instances ({c['instances_per_video']:.2f} per video), "
             f"{c['classes']} classes; {c['videos_without_instances']} videos came back with no instance.",
             f"- {c['hours_of_video']:.1f} hours of video; {c['annotator_hours']:.1f} annotator hours (estimated).",
             f"- Classes: {sheet['classes']['rule']}.", "", "## How it was collected", ""]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in col.items()]
    lines += ["", "## Estimated fields", ""]
    lines += [f"- `{key}`: {value}" for key, value in sheet["estimated_fields"].items()]
    lines += [f"- {sheet['videos_with_estimated_duration']} of {c['videos']} videos have an estimated duration.", "",
              "## Videos and instances per class", "", "| class | videos | instances |", "|---|---|---|"]
    lines += [f"| {name} | {row['videos']} | {row['instances']} |"
              for name, row in sorted(sheet["classes"]["per_class"].items())]
    return "\n".join(lines) + "\n"


def write_collected(collected: GroundTruth, sheet: dict, path: str | Path) -> dict[str, Path]:
    """Write the collected set (ActivityNet layout), its datasheet as JSON and Markdown beside it
    (``<stem>_datasheet.json`` / ``.md``), each atomically; returns the three paths."""
    path = Path(path)
    paths = {"collected": path, "datasheet": path.with_name(f"{path.stem}_datasheet.json"),
             "datasheet_md": path.with_name(f"{path.stem}_datasheet.md")}
    write_ground_truth(collected, paths["collected"])
    write_json_atomic(sheet, paths["datasheet"], indent=1)
    write_text_atomic(datasheet_markdown(sheet), paths["datasheet_md"])
    return paths
