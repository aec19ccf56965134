"""Performance analytics computed from session logs (so any stored session can be re-scored).

Motion metrics follow the definitions used by VR laparoscopy trainers and ICSAD-type
motion analysis (Datta et al. 2001; Oropesa et al. 2011); see :mod:`vrmed.analytics.motion`.
Instrument tips out of the endoscope's view are in :mod:`vrmed.analytics.view`; task time,
drops, the FLS score and tissue damage from events in :mod:`vrmed.analytics.errors`.
"""

from .motion import (
    MotionMetrics,
    Track,
    bimanual_dexterity,
    economy_of_motion,
    idle_time,
    motion_metrics,
    normalized_jerk,
    number_of_movements,
    path_length,
    tracks_from_log,
)

__all__ = [
    "MotionMetrics",
    "Track",
    "bimanual_dexterity",
    "economy_of_motion",
    "idle_time",
    "motion_metrics",
    "normalized_jerk",
    "number_of_movements",
    "path_length",
    "tracks_from_log",
]
