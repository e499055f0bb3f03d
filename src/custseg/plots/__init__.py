"""Plots: Display objects (compute in ``from_*``, draw in ``plot``) and exploration figures."""

from custseg.plots._displays import (
    ElbowDisplay,
    KScoresDisplay,
    ProfileHeatmapDisplay,
    ProjectionDisplay,
    SegmentScatterDisplay,
    SegmentSizesDisplay,
    SilhouetteDisplay,
    segment_colors,
)
from custseg.plots._explore import (
    plot_categorical_counts,
    plot_correlation,
    plot_distributions,
    plot_pairs,
)

__all__ = [
    "ElbowDisplay",
    "KScoresDisplay",
    "ProfileHeatmapDisplay",
    "ProjectionDisplay",
    "SegmentScatterDisplay",
    "SegmentSizesDisplay",
    "SilhouetteDisplay",
    "plot_categorical_counts",
    "plot_correlation",
    "plot_distributions",
    "plot_pairs",
    "segment_colors",
]
