"""Explaining segments: profiles, names, rules of thumb and actions."""

from custseg.profile._actions import ACTION_GRID, Action, suggest_action
from custseg.profile._naming import segment_traits, unique_names
from custseg.profile._profile import (
    CARD_FEATURES,
    CategoryShares,
    FeatureLine,
    NumericStats,
    SegmentProfile,
    feature_separation,
    profile_segments,
    profiles_frame,
    profiles_from_stats,
    separating_pair,
)
from custseg.profile._roles import role_of, short_label
from custseg.profile._rules import Condition, SegmentRule, rule_mask, segment_rules

__all__ = [
    "ACTION_GRID",
    "CARD_FEATURES",
    "Action",
    "CategoryShares",
    "Condition",
    "FeatureLine",
    "NumericStats",
    "SegmentProfile",
    "SegmentRule",
    "feature_separation",
    "profile_segments",
    "profiles_frame",
    "profiles_from_stats",
    "role_of",
    "rule_mask",
    "segment_rules",
    "separating_pair",
    "segment_traits",
    "short_label",
    "suggest_action",
    "unique_names",
]
