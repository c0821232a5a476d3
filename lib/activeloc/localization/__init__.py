"""Layer 2, localization: segment geometry, proposal sources, encoded candidates and the stage-wise localizer."""

from .encoding import CandidateError, CandidateMatrix, SegmentEncoder, candidate_matrix
from .localizer import StageWiseLocalizer
from .proposals import LoadedProposals, SlidingWindows
from .segments import grouped_nms, grouped_ranking, segment_iou, tiou, top_k_per_group

__all__ = ["CandidateError", "CandidateMatrix", "LoadedProposals", "SegmentEncoder", "SlidingWindows",
           "StageWiseLocalizer", "candidate_matrix", "grouped_nms", "grouped_ranking", "segment_iou", "tiou",
           "top_k_per_group"]
