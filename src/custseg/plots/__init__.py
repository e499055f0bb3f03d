"""Plots: Display objects (compute in ``from_*``, draw in ``plot``), exploration
figures and RFM figures."""

from custseg.plots._algorithms import (
    AgreementDisplay,
    DendrogramDisplay,
    InformationCriteriaDisplay,
    MigrationDisplay,
    StabilityDisplay,
)
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
from custseg.plots._rfm import (
    plot_rfm_distributions,
    plot_rfm_grid,
    plot_rfm_overlap,
    plot_rfm_segment_sizes,
    rfm_grid,
)

__all__ = [
    "AgreementDisplay",
    "DendrogramDisplay",
    "ElbowDisplay",
    "InformationCriteriaDisplay",
    "KScoresDisplay",
    "MigrationDisplay",
    "ProfileHeatmapDisplay",
    "ProjectionDisplay",
    "SegmentScatterDisplay",
    "SegmentSizesDisplay",
    "SilhouetteDisplay",
    "StabilityDisplay",
    "plot_categorical_counts",
    "plot_correlation",
    "plot_distributions",
    "plot_pairs",
    "plot_rfm_distributions",
    "plot_rfm_grid",
    "plot_rfm_overlap",
    "plot_rfm_segment_sizes",
    "rfm_grid",
    "segment_colors",
]
