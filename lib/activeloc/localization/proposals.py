"""Proposal sources: where a video's candidate segments come from (multi-scale sliding windows or
loaded proposals).

Both answer ``segments(video_id, duration) -> (n, 2)`` seconds, ordered by their own confidence
(best first), which is the order AR@AN reads them in. Both are values (hashable, compared by
content), so the candidates derived from them are cached by what they are, not by identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.fingerprint import frame_digest

# Window lengths as fractions of the video: ActivityNet instances cover anything from a few per
# cent of a video (41 % cover under a fifth) to all of it (25 % cover over four fifths).
DEFAULT_SCALES = (1.0, 0.8, 0.6, 0.45, 0.33, 0.25, 0.18, 0.12, 0.08, 0.05)


@dataclass(frozen=True)
class SlidingWindows:
    """Multi-scale sliding windows.

    ``scales``: window lengths, as fractions of the video's duration (``relative=True``, the
    default: about the same number of candidates for every video, ~100 with the defaults) or in
    seconds. ``overlap``: fraction shared by consecutive windows of one scale. A last window is
    aligned with the end of the video so that no scale leaves the end uncovered. Absolute windows
    longer than the video are replaced by the whole video. Candidates are ordered coarse to fine,
    then by start time; a video of zero duration has none.
    """

    scales: tuple[float, ...] = DEFAULT_SCALES
    overlap: float = 0.5
    relative: bool = True

    def __post_init__(self):
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if not self.scales or min(self.scales) <= 0:
            raise ValueError("scales must be positive")

    def segments(self, video_id: str, duration: float) -> np.ndarray:
        if not duration > 0:
            return np.zeros((0, 2))
        out = []
        for scale in sorted(set(self.scales), reverse=True):
            length = min(scale * duration if self.relative else scale, duration)
            stride = length * (1 - self.overlap)
            n = int(np.floor((duration - length) / stride + 1e-9)) + 1
            starts = np.arange(n) * stride
            if starts[-1] + length < duration - 1e-9:
                starts = np.append(starts, duration - length)
            out.append(np.column_stack([starts, starts + length]))
        segs = np.round(np.concatenate(out), 6)
        _, first = np.unique(segs, axis=0, return_index=True)
        return segs[np.sort(first)]


class LoadedProposals:
    """Proposals from a table with ``video_id, t_start, t_end, score`` (e.g. :func:`read_results` of a
    proposals JSON with ``require_label=False``), best first, at most ``max_per_video`` per video."""

    def __init__(self, proposals: pd.DataFrame, max_per_video: int | None = 100):
        self.proposals = proposals
        self.max_per_video = max_per_video
        ordered = proposals.sort_values(["video_id", "score"], ascending=[True, False], kind="stable")
        self._by_video = {
            vid: grp[["t_start", "t_end"]].to_numpy(dtype=float)[:max_per_video]
            for vid, grp in ordered.groupby("video_id", sort=False)
        }
        self._key = (frame_digest(proposals[["video_id", "t_start", "t_end", "score"]]), max_per_video)

    def __eq__(self, other) -> bool:
        return isinstance(other, LoadedProposals) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"LoadedProposals({len(self.proposals)} proposals, max_per_video={self.max_per_video})"

    def segments(self, video_id: str, duration: float) -> np.ndarray:
        segs = self._by_video.get(video_id)
        return np.zeros((0, 2)) if segs is None else np.clip(segs, 0, duration)
