"""Explaining segments: profiles, names, rules of thumb and actions."""

from custseg.profile._actions import ACTION_GRID, Action, suggest_action
from custseg.profile._naming import segment_traits, unique_names
from custseg.profile._profile import (
    CategoryShares,
    NumericStats,
    SegmentProfile,
    profile_segments,
    profiles_frame,
    profiles_from_stats,
)
from custseg.profile._roles import role_of, short_label

__all__ = [
    "ACTION_GRID",
    "Action",
    "CategoryShares",
    "NumericStats",
    "SegmentProfile",
    "profile_segments",
    "profiles_frame",
    "profiles_from_stats",
    "role_of",
    "segment_traits",
    "short_label",
    "suggest_action",
    "unique_names",
]
