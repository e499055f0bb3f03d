"""Names the command line needs before any work starts (option choices).

Kept apart from the modules that use them, which import scikit-learn, pandas
and friends: ``custseg --help`` and every ``COMMAND --help`` build their
options from these and so start in a fraction of a second.
"""

from __future__ import annotations

__all__ = ["ALGORITHMS", "COVARIANCE_TYPES", "IF_EXISTS", "LINKAGES", "SCALERS"]

# --algorithm: name -> what the report calls it
ALGORITHMS = {
    "kmeans": "K-Means",
    "minibatch-kmeans": "Mini-batch K-Means",
    "agglomerative": "Agglomerative (hierarchical) clustering",
    "gmm": "Gaussian mixture",
    "hdbscan": "HDBSCAN",
    "kprototypes": "k-prototypes",
}
LINKAGES = ("ward", "complete", "average", "single")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
# --scaler: how numeric features are put on one footing
SCALERS = ("standard", "robust", "minmax", "none")
# --if-exists of database write-backs
IF_EXISTS = ("fail", "replace", "append")
