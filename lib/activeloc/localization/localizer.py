"""The stage-wise action localizer of the paper (3.1), with exact closed-form stages by default.

1. Video encoder: each candidate segment (from a proposal source, sliding windows by default) is
   the average of the snippet features it covers, contrasted with its flanks, plus three geometry
   columns (:class:`~activeloc.localization.encoding.SegmentEncoder`; computed once per set of
   videos, :func:`~activeloc.localization.encoding.candidate_matrix`). Both stages see the features
   standardised by the mean and spread of the training videos' candidates (``mean_``,
   ``scale_``): no pool or test video is looked at.
2. Attention module: a linear scorer of action against background, calibrated to a probability by
   a sigmoid of its decision value, then hard top-k (k = 10). Positives: candidates with
   tIoU > 0.7 with a truth; negatives: candidates with tIoU < 0.3 with every truth (the paper
   leaves them open); those in between are not trained on. A warm start (``attention_prior``,
  exact stages): the attention weights are shrunk toward a prior's instead of toward zero, the
  closed-form counterpart of adaptive SVM's ``||w - w_prior||^2`` (Yang et al. 2007; MCLE's
  warm initialisation, Gavves et al. 2015).
3. Action classifier: a linear layer with a softmax over the classes, trained on positive
   candidates labelled with their truth's class.

Two implementations of stages 2 and 3 (``stages``):

- ``"exact"`` (default): everything is fitted in closed form from sufficient statistics of the
  training candidates (:mod:`~activeloc.localization.statistics`), so a fit is deterministic, the
  model of a labelled set is the same (to float64 rounding) however the set was reached, and a
  refit after new videos adds only their statistics. Attention: class-balanced regularised least
  squares (``attention_alpha``) on every positive and every negative candidate, no sampling: in
  closed form, Fisher's discriminant. Calibration: the posterior of "positive" against all other
  candidates of the training videos under Gaussian decision values with a pooled variance, whose
  two sigmoid parameters come from the statistics (where the paper's Platt scaling fits them by
  logistic regression, which needs every decision value again). Classifier: linear discriminant
  analysis over the classes (shared covariance shrunk by ``classifier_shrinkage``), whose
  posteriors are exactly a softmax of linear scores. Its rows are **all** positive candidates,
  not the positives among the attention's top-k as in the paper: a video's top-k changes with
  every refit, so those rows could not be accumulated. ``notebooks/02-localizer.ipynb`` measures
  what that and the closed forms change against the paper's stages.
- ``"paper"``: the paper's stages, fitted cold by iterative solvers: a hinge-loss linear SVM
  (averaged SGD, ``svm_max_iter`` epochs, negatives sampled at random, ``negatives_per_positive``
  per positive), Platt scaling by logistic regression on the decision values of the training
  candidates, and multinomial logistic regression on the positives among the top-k
  (``classifier_rows="top_k"``, the paper's rule) or on all positives (``"positives"``).

Detections (``score_mode``): each video's top-k segments, each paired with the video's
``classes_per_video`` most likely classes (the class posteriors of its top-k segments averaged,
weighted by attention). ``"product"`` scores a detection by attention probability times the
segment's class probability; ``"video"`` uses the video-level class probability instead;
``"attention"`` the attention probability alone. Temporal non-maximum suppression per video and
class at ``nms_tiou`` (None: none).

The paper's iterative solvers stop at their iteration limits; a fit that stops there is counted in
``convergence_warnings_`` instead of printing scikit-learn's warning, so that a grid of thousands
of fits reports one number, not a wall of warnings (the exact stages have none).
"""

from __future__ import annotations

import copy
import warnings
import weakref
from contextlib import contextmanager

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..core.errors import InputError
from ..core.ids import among
from ..data.dataset import Dataset, VideoSet
from .encoding import CandidateMatrix, SegmentEncoder, candidate_matrix
from .proposals import SlidingWindows
from .segments import grouped_nms, top_k_per_group
from .statistics import CandidateStatistics, annotation_fingerprints

SCORE_MODES = ("product", "video", "attention")
STAGES = ("exact", "paper")
DECISION_GAP = 2  # videos: computing their candidates costs less than a separate product
CLASSIFIER_ROWS = ("positives", "top_k")


class TrainingDataError(InputError, ValueError):
    """The training videos' annotations leave nothing to learn from."""


class StageWiseLocalizer(BaseEstimator):
    """Candidate segments -> attention (linear, calibrated, top-k) -> action classifier (softmax).

    ``fit(dataset)`` trains on the annotations of ``dataset.video_ids``; ``predict(videos)``
    returns detections for its videos (a :class:`~activeloc.data.dataset.VideoSet` suffices: no
    annotation is read). ``stages``: ``"exact"`` (default: closed-form stages from sufficient
    statistics, deterministic, refits that cost the new videos only) or ``"paper"`` (hinge-loss
    SVM and multinomial logistic regression, fitted cold by iterative solvers). See the module
    docstring for every design choice.

    ``attention_prior``: None, or attention weights in raw feature space (one per candidate
    feature, e.g. another fitted localizer's ``coef_``) to warm-start from (exact stages only).
    With ``n`` training videos and ``s = attention_prior_strength``, the attention stage then solves

        min_{beta, b}  sum_i u_i (t_i - z_i . beta - b)^2 + alpha ||beta||^2 + (s / n) ||beta - beta_prior||^2

    (``z_i`` standardised candidate features, ``t_i`` 1 for positives and 0 for negatives, ``u_i``
    weighing each class of rows one half, ``beta_prior`` the prior's weights in the same
    standardised space, the bias free): ridge on ``delta = beta - beta_prior``. Since the data term
    is a mean, ``s / n`` makes the prior count as ``s`` training videos, fading as videos are added,
    as adaptive SVM's prior fades against its sum of per-sample losses. ``s = 0`` is the plain fit;
    ``s -> inf`` keeps the prior's weights (the bias and calibration are still fitted).
    """

    def __init__(self, proposals=SlidingWindows(), encoder=SegmentEncoder(), stages: str = "exact", top_k: int = 10,
                 positive_tiou: float = 0.7, negative_tiou: float = 0.3, attention_alpha: float = 0.01,
                 classifier_shrinkage: float = 0.1, classifier_rows: str = "positives",
                 negatives_per_positive: float = 3.0, svm_alpha: float = 1e-4, svm_max_iter: int = 100,
                 classifier_C: float = 1.0, classifier_max_iter: int = 300, classifier_tol: float = 1e-4,
                 score_mode: str = "product", classes_per_video: int = 1, nms_tiou: float | None = 0.5,
                 attention_prior=None, attention_prior_strength: float = 1.0, random_state=None):
        self.proposals = proposals
        self.encoder = encoder
        self.stages = stages
        self.top_k = top_k
        self.positive_tiou = positive_tiou
        self.negative_tiou = negative_tiou
        self.attention_alpha = attention_alpha
        self.classifier_shrinkage = classifier_shrinkage
        self.classifier_rows = classifier_rows
        self.negatives_per_positive = negatives_per_positive
        self.svm_alpha = svm_alpha
        self.svm_max_iter = svm_max_iter
        self.classifier_C = classifier_C
        self.classifier_max_iter = classifier_max_iter
        self.classifier_tol = classifier_tol
        self.score_mode = score_mode
        self.classes_per_video = classes_per_video
        self.nms_tiou = nms_tiou
        self.attention_prior = attention_prior
        self.attention_prior_strength = attention_prior_strength
        self.random_state = random_state

    # -- training ---------------------------------------------------------------------------

    def fit(self, dataset: Dataset) -> StageWiseLocalizer:
        return self._fit(dataset, classifier=True)

    def fit_attention(self, dataset: Dataset) -> StageWiseLocalizer:
        """Train the attention module only (what LAL's Monte-Carlo procedure retrains): after it,
        attention scores are available, class posteriors and detections are not."""
        return self._fit(dataset, classifier=False)

    def _fit(self, dataset: Dataset, classifier: bool) -> StageWiseLocalizer:
        self._check_params()
        cm = candidate_matrix(dataset, self.proposals, self.encoder)
        instances = dataset.instances
        if instances.empty:
            raise TrainingDataError("no annotated instances among the training videos")
        self.classes_ = np.array(sorted(instances["label"].unique()))
        self.n_training_videos_ = len(dataset.video_ids)
        with self._counting_convergence():
            if self.stages == "exact":
                self._fit_exact(cm, dataset, classifier)
            else:
                self._fit_paper(cm, dataset, classifier)
        if not classifier:
            self.class_coef_, self.class_intercept_, self.classifier_classes_ = None, None, None
        return self

    def _check_params(self) -> None:
        for name, value, allowed in (("stages", self.stages, STAGES), ("score_mode", self.score_mode, SCORE_MODES),
                                     ("classifier_rows", self.classifier_rows, CLASSIFIER_ROWS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.attention_prior is not None and self.stages != "exact":
            raise ValueError("attention_prior needs stages='exact': the paper's SVM is fitted cold by SGD")
        if not self.attention_prior_strength >= 0:
            raise ValueError(f"attention_prior_strength must be at least 0, got {self.attention_prior_strength}")
        if self.stages == "exact" and self.classifier_rows != "positives":
            raise ValueError("classifier_rows='top_k' needs stages='paper': the exact stages accumulate their "
                             "classifier's rows per video, and a video's top-k changes with every refit")

    @contextmanager
    def _counting_convergence(self):
        """Count the solvers' convergence warnings of a fit into ``convergence_warnings_``; other
        warnings are issued as usual."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            yield
        self.convergence_warnings_ = 0
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self.convergence_warnings_ += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    # The exact stages.

    def _statistics(self, cm: CandidateMatrix, dataset: Dataset) -> CandidateStatistics:
        """The statistics of the training videos: those of the previous fit plus the new videos'
        when the previous fit's videos are all still there with the same annotations (on the same
        candidate matrix), else computed afresh."""
        ids = list(dataset.video_ids)
        prints = annotation_fingerprints(ids, dataset.instances)
        stats = self.__dict__.get("statistics_")
        source = self.__dict__.get("_statistics_matrix")
        if (stats is None or source is None or source() is not cm or stats.positive_tiou != self.positive_tiou
                or stats.negative_tiou != self.negative_tiou or not stats.holds(prints)):
            stats = CandidateStatistics(cm.features.shape[1], self.positive_tiou, self.negative_tiou)
        else:
            stats = copy.deepcopy(stats)  # the previous fit's statistics stay as they were
        held = set(stats.fingerprints.index)
        new = [v for v in ids if v not in held]
        if new:
            instances = dataset.instances
            stats.add(cm, new, instances[among(instances["video_id"], new)], prints)
        self._statistics_matrix = weakref.ref(cm)
        return stats

    def _fit_exact(self, cm: CandidateMatrix, dataset: Dataset, classifier: bool) -> None:
        stats = self._statistics(cm, dataset)
        self.statistics_ = stats
        pos, neg = stats.groups["positive"], stats.groups["negative"]
        n_videos = len(dataset.video_ids)
        if pos.n == 0:
            raise TrainingDataError(f"no candidate of the {n_videos} training videos has tIoU > "
                                    f"{self.positive_tiou} with a truth: nothing to learn actions from")
        if neg.n == 0:
            raise TrainingDataError(f"no candidate of the {n_videos} training videos has tIoU < "
                                    f"{self.negative_tiou} with every truth: no background to learn from")
        everything = stats.all
        self.mean_, self.scale_ = _standardisation(everything.n, everything.sum, np.diag(everything.gram))
        mean, scale = self.mean_.astype(np.float64), self.scale_.astype(np.float64)
        outer_scale = np.outer(scale, scale)

        # Attention: least squares of 1 (positive) vs 0 (negative), each class of rows weighing one
        # half, ridge ``attention_alpha`` on the standardised weights. In closed form from the two
        # groups' means and covariances (standardised): Fisher's discriminant direction. A warm start
        # adds (s / n) ||beta - beta_prior||^2 (see the class docstring).
        mu_pos, mu_neg = (pos.mean - mean) / scale, (neg.mean - mean) / scale
        gap = mu_pos - mu_neg
        covariance = 0.5 * (pos.scatter / pos.n + neg.scatter / neg.n) / outer_scale + 0.25 * np.outer(gap, gap)
        strength, prior = self._attention_prior(len(gap), scale, n_videos)
        beta = _solve_spd(covariance + (self.attention_alpha + strength) * np.eye(len(gap)), 0.25 * gap + strength * prior)
        bias = 0.5 - 0.5 * (mu_pos + mu_neg) @ beta
        coef = beta / scale
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = float(bias - coef @ mean)

        # Calibration: the posterior of "positive" against every other candidate given the decision
        # value, with each side's decision values taken as Gaussian with one pooled variance, is a
        # sigmoid of it; its two parameters follow from the groups' moments.
        rest = stats.groups["negative"] + stats.groups["ambiguous"]
        means = [coef @ g.mean + self.intercept_ for g in (pos, rest)]
        variance = sum(coef @ g.scatter @ coef for g in (pos, rest)) / (pos.n + rest.n)
        slope = (means[0] - means[1]) / max(variance, 1e-12)
        offset = (means[1] ** 2 - means[0] ** 2) / (2 * max(variance, 1e-12)) + np.log(pos.n / rest.n)
        self.platt_ = (float(slope), float(offset))
        self.positive_fraction_ = pos.n / everything.n
        if classifier:
            self._fit_discriminant(stats, mean, scale, outer_scale)

    def _attention_prior(self, n_features: int, scale: np.ndarray, n_videos: int) -> tuple[float, np.ndarray]:
        """The warm start's penalty ``s / n`` and the prior's weights in the standardised space (0 and
        zeros without a prior)."""
        if self.attention_prior is None:
            return 0.0, np.zeros(n_features)
        prior = np.asarray(self.attention_prior, dtype=np.float64)
        if prior.shape != (n_features,):
            raise ValueError(f"attention_prior has shape {prior.shape}; the candidates have {n_features} features")
        return float(self.attention_prior_strength) / n_videos, prior * scale

    def _fit_discriminant(self, stats: CandidateStatistics, mean, scale, outer_scale) -> None:
        """The action classifier on every positive candidate: linear discriminant analysis (class
        means, one shared covariance shrunk towards its average variance by
        ``classifier_shrinkage``, priors from the class counts), whose posteriors are exactly a
        softmax of linear scores."""
        labels = sorted(stats.class_count)
        counts = np.array([stats.class_count[c] for c in labels], dtype=float)
        sums = np.array([stats.class_sum[c] for c in labels])
        pos = stats.groups["positive"]
        class_means = sums / counts[:, None]
        within = (pos.gram - (class_means * counts[:, None]).T @ class_means) / outer_scale
        covariance = within / max(pos.n - len(labels), 1)
        # Floored, so that the shrunk covariance stays invertible when the positives are too few to
        # vary (a single training video can have one positive candidate).
        average = max(np.trace(covariance) / len(covariance), 1e-3)
        shrunk = (1 - self.classifier_shrinkage) * covariance + self.classifier_shrinkage * average * np.eye(len(covariance))
        centres = (class_means - mean) / scale  # (classes, D), standardised
        weights = _solve_spd(shrunk, centres.T)  # (D, classes)
        bias = -0.5 * np.einsum("kd,dk->k", centres, weights) + np.log(counts / counts.sum())
        self._set_classifier(np.array(labels), (weights / scale[:, None]).T, bias - (weights / scale[:, None]).T @ mean)

    def _set_classifier(self, labels, coef, intercept) -> None:
        """Class scores ``features @ class_coef_.T + class_intercept_`` (raw feature space) over
        ``classifier_classes_`` (indices into ``classes_``); posteriors are their softmax."""
        self.classifier_classes_ = np.searchsorted(self.classes_, labels)
        self.class_coef_ = np.asarray(coef, dtype=np.float32)
        self.class_intercept_ = np.asarray(intercept, dtype=np.float64)

    # The paper's stages.

    def _fit_paper(self, cm: CandidateMatrix, dataset: Dataset, classifier: bool) -> None:
        self.__dict__.pop("statistics_", None)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(2**31 - 1))
        ids = list(dataset.video_ids)
        rows, owner, best, cls = cm.overlaps(ids, dataset.instances, self.classes_)
        positive = best > self.positive_tiou
        if not positive.any():
            raise TrainingDataError(f"no candidate of the {len(ids)} training videos has tIoU > {self.positive_tiou} "
                                    "with a truth: nothing to learn actions from")
        negatives = np.flatnonzero(best < self.negative_tiou)
        n_neg = min(len(negatives), int(np.ceil(self.negatives_per_positive * positive.sum())))
        chosen = np.concatenate([np.flatnonzero(positive), np.sort(rng.choice(negatives, n_neg, replace=False))])
        n, sums, squares = cm.moments(ids)
        self.mean_, self.scale_ = _standardisation(n, sums, squares)
        svm = SGDClassifier(loss="hinge", alpha=self.svm_alpha, max_iter=self.svm_max_iter, tol=1e-4,
                            average=True, random_state=seed)
        svm.fit(self._standardised(cm, rows[chosen]), positive[chosen])
        self.coef_ = (svm.coef_[0] / self.scale_).astype(np.float32)
        self.intercept_ = float(svm.intercept_[0] - (svm.coef_[0] * self.mean_ / self.scale_).sum())
        # Platt scaling on the candidates of the training videos (an even sample of at most 200,000:
        # two parameters need no more, and Newton's method then takes a fraction of a second).
        decision = self._decision(cm, ids, rows)
        step = max(1, len(rows) // 200_000)
        platt = LogisticRegression(C=1e4, solver="newton-cholesky").fit(decision[::step, None], positive[::step])
        self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.positive_fraction_ = float(positive.mean())
        if not classifier:
            return
        train = np.flatnonzero(positive)
        if self.classifier_rows == "top_k":
            top = top_k_per_group(decision, owner, self.top_k)
            train = top[positive[top]]
            if not len(train):
                # With very few training videos the attention may rank no positive in its top-k; the
                # classifier would then know no class, and every prediction would fail.
                raise TrainingDataError(
                    f"no candidate with tIoU > {self.positive_tiou} is among the top {self.top_k} of any of the "
                    f"{len(ids)} training videos: no example to train the action classifier on (label more videos)")
        labels = self.classes_[np.unique(cls[train])]
        if len(labels) < 2:  # a single class seen: it gets probability 1
            self._set_classifier(labels, np.zeros((1, cm.features.shape[1])), np.zeros(1))
            return
        clf = LogisticRegression(C=self.classifier_C, max_iter=self.classifier_max_iter, tol=self.classifier_tol,
                                 random_state=seed).fit(self._standardised(cm, rows[train]), cls[train])
        coef, intercept = clf.coef_, clf.intercept_
        if len(clf.classes_) == 2:  # one logit s; the softmax of (-s/2, s/2) is its sigmoid
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        coef = coef / self.scale_
        self._set_classifier(self.classes_[clf.classes_], coef, intercept - coef @ self.mean_)

    def _standardised(self, cm: CandidateMatrix, rows: np.ndarray) -> np.ndarray:
        """Standardised features of ``rows``, in place on the gathered copy (the matrix can be large)."""
        x = cm.features[rows]
        x -= self.mean_
        x /= self.scale_
        return x

    # -- inference ------------------------------------------------------------------------------

    def _attention(self, videos: VideoSet):
        """Candidate rows of the videos, their owner position, and attention probabilities."""
        check_is_fitted(self, "platt_")
        cm = candidate_matrix(videos, self.proposals, self.encoder)
        rows, owner = cm.rows(videos.video_ids)
        a, b = self.platt_
        return cm, rows, owner, 1 / (1 + np.exp(-(a * self._decision(cm, videos.video_ids, rows) + b)))

    def _decision(self, cm: CandidateMatrix, video_ids, rows: np.ndarray) -> np.ndarray:
        """Decision values of the candidates ``rows`` (those of ``video_ids``, as ``cm.rows`` gives
        them), kept until the next fit (a loop step reads them for the selection and for the
        prediction). Computed by one product per run of consecutive videos (gaps of up to
        :data:`DECISION_GAP` videos computed too): no gathered copy of the matrix, bookkeeping per
        video rather than per row, and a cost that follows the shrinking pool."""
        cache = self.__dict__.get("_decision_cache")
        if cache is None or cache["matrix"]() is not cm or cache["coef"] is not self.coef_:
            cache = {"matrix": weakref.ref(cm), "coef": self.coef_,
                     "values": np.empty(len(cm.features), np.float32), "done": np.zeros(len(cm), bool)}
            self._decision_cache = cache
        wanted = np.zeros(len(cm), bool)
        wanted[cm.positions(video_ids)] = True
        need = np.flatnonzero(wanted & ~cache["done"])  # sorted, distinct
        if len(need):
            breaks = np.flatnonzero(np.diff(need) > DECISION_GAP + 1) + 1
            intercept, features, values = np.float32(self.intercept_), np.asarray(cm.features), cache["values"]
            for first, last in zip(need[np.r_[0, breaks]], need[np.r_[breaks - 1, len(need) - 1]]):
                start, end = cm.offsets[first], cm.offsets[last + 1]
                np.matmul(features[start:end], self.coef_, out=values[start:end])
                values[start:end] += intercept
                cache["done"][first:last + 1] = True
        if len(rows) and (np.diff(rows) == 1).all():  # one range (a split's videos in order): sliced, not gathered
            return cache["values"][rows[0]:rows[-1] + 1].copy()
        return cache["values"][rows]

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: Python 3.11 hands out the instance's own __dict__
        for derived in ("_decision_cache", "_statistics_matrix"):  # tied to a candidate matrix: not saved
            state.pop(derived, None)
        return state

    def __deepcopy__(self, memo):
        """A copy in this process keeps the link to the candidate matrix its statistics came from,
        so that it refits warm, as the original would (LAL refits one model state once per probe
        video); only a pickle drops that link. The decision cache is not copied."""
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "_decision_cache"}, memo))
        return copied

    def _posteriors(self, features: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "classifier_classes_")
        if self.classifier_classes_ is None:
            raise ValueError("only the attention module is fitted (fit_attention): no class posteriors")
        # A softmax in place on float32 scores: the array is (top-k of every pool video) x classes.
        scores = features @ self.class_coef_.T
        scores += self.class_intercept_.astype(np.float32)
        if len(scores):
            scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        if len(self.classifier_classes_) == len(self.classes_):
            return scores
        out = np.zeros((len(features), len(self.classes_)), dtype=np.float32)
        out[:, self.classifier_classes_] = scores
        return out

    def attention_scores(self, videos: VideoSet) -> dict[str, np.ndarray]:
        """Per video, the attention probability of every candidate, in candidate order (the paper's X)."""
        _, _, owner, prob = self._attention(videos)
        bounds = np.searchsorted(owner, np.arange(len(videos.video_ids) + 1))
        return {vid: prob[bounds[i]:bounds[i + 1]] for i, vid in enumerate(videos.video_ids)}

    def candidate_segments(self, videos: VideoSet) -> dict[str, np.ndarray]:
        """Per video, its candidates' ``[t_start, t_end]`` as an ``(n, 2)`` array, in the order of
        :meth:`attention_scores`."""
        cm = candidate_matrix(videos, self.proposals, self.encoder)
        return {vid: cm.segments[cm.rows([vid])[0]] for vid in videos.video_ids}

    def attention_detections(self, videos: VideoSet) -> pd.DataFrame:
        """Each video's top-k segments as class-agnostic detections (label ``"action"``, score = attention)."""
        cm, rows, owner, prob = self._attention(videos)
        top = top_k_per_group(prob, owner, self.top_k)
        return pd.DataFrame({"video_id": np.asarray(videos.video_ids, dtype=object)[owner[top]],
                             "t_start": cm.segments[rows[top], 0], "t_end": cm.segments[rows[top], 1],
                             "label": "action", "score": prob[top]})

    def _top(self, videos: VideoSet):
        """Each video's top-k candidates, grouped by video, best first: rows, owners, attention, posteriors."""
        cm, rows, owner, prob = self._attention(videos)
        top = top_k_per_group(prob, owner, self.top_k)
        return cm, rows[top], owner[top], prob[top], self._posteriors(cm.features[rows[top]])

    def attend(self, videos: VideoSet) -> pd.DataFrame:
        """The top-k segments of each video: ``video_id, rank, t_start, t_end, attention`` plus one
        column per class with its posterior probability."""
        cm, rows, owner, attention, post = self._top(videos)
        frame = pd.DataFrame({
            "video_id": np.asarray(videos.video_ids, dtype=object)[owner],
            "rank": np.arange(len(owner)) - np.searchsorted(owner, owner),
            "t_start": cm.segments[rows, 0],
            "t_end": cm.segments[rows, 1],
            "attention": attention,
        })
        return pd.concat([frame, pd.DataFrame(post, columns=self.classes_)], axis=1)

    def class_posteriors(self, videos: VideoSet) -> dict[str, np.ndarray]:
        """Per video, the ``(k, n_classes)`` class posteriors of its top-k segments (columns: ``classes_``)."""
        _, _, owner, _, post = self._top(videos)
        bounds = np.searchsorted(owner, np.arange(len(videos.video_ids) + 1))
        return {vid: post[bounds[i]:bounds[i + 1]] for i, vid in enumerate(videos.video_ids)}

    @staticmethod
    def _video_probabilities(n_videos: int, owner: np.ndarray, attention: np.ndarray, post: np.ndarray) -> np.ndarray:
        """Video-level class distribution: the attention-weighted mean of its top-k posteriors."""
        weights = np.zeros((n_videos, post.shape[1]))
        if len(owner):  # owners come grouped: a sum per run of equal owners
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            weights[owner[starts]] = np.add.reduceat(post * attention[:, None], starts, axis=0)
        return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)

    def video_class_probabilities(self, videos: VideoSet) -> np.ndarray:
        """``(videos, n_classes)``: each video's class distribution (columns: ``classes_``), as detections use it."""
        _, _, owner, attention, post = self._top(videos)
        return self._video_probabilities(len(videos.video_ids), owner, attention, post)

    def predict(self, videos: VideoSet) -> pd.DataFrame:
        """Detections ``video_id, t_start, t_end, label, score`` for the videos."""
        cm, rows, owner, attention, post = self._top(videos)
        video_prob = self._video_probabilities(len(videos.video_ids), owner, attention, post)
        m = min(self.classes_per_video, len(self.classes_))
        chosen = np.argsort(-video_prob, axis=1, kind="stable")[:, :m]  # (videos, m)
        det_row = np.repeat(np.arange(len(rows)), m)
        det_cls = chosen[owner].reshape(-1)
        if self.score_mode == "product":
            score = attention[det_row] * post[det_row, det_cls]
        elif self.score_mode == "video":
            score = attention[det_row] * video_prob[owner[det_row], det_cls]
        else:
            score = attention[det_row]
        segments = cm.segments[rows[det_row]]
        keep = np.ones(len(det_row), dtype=bool)
        if self.nms_tiou is not None:
            keep = grouped_nms(owner[det_row] * len(self.classes_) + det_cls, segments, score, self.nms_tiou)
        return pd.DataFrame({
            "video_id": np.asarray(videos.video_ids, dtype=object)[owner[det_row[keep]]],
            "t_start": segments[keep, 0],
            "t_end": segments[keep, 1],
            "label": self.classes_[det_cls[keep]],
            "score": score[keep],
        })

    def state(self) -> dict:
        """What the learned selectors read: attention weights (in feature space) and bias, calibration
        parameters, the number of training videos and the fraction of positive candidates."""
        check_is_fitted(self, "platt_")
        return {
            "coef": self.coef_.copy(),
            "intercept": self.intercept_,
            "platt": self.platt_,
            "n_training_videos": self.n_training_videos_,
            "positive_fraction": self.positive_fraction_,
        }


def _standardisation(n: int, sums: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of features from their count, sum and sum of squares; a constant column gets spread 1."""
    mean = sums / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1).astype(np.float32)


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^-1 rhs`` for a symmetric positive-definite matrix, by Cholesky."""
    return cho_solve(cho_factor(matrix), rhs)
