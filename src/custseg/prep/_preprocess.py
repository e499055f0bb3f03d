"""The scikit-learn preprocessing step: impute, one-hot encode, scale."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

from custseg.errors import ParameterError
from custseg.prep._features import FeatureSelection

__all__ = ["SCALERS", "build_preprocessor"]

SCALERS = ("standard", "robust", "minmax", "none")


def _scaler(name: str) -> object:
    if name == "standard":
        return StandardScaler()
    if name == "robust":
        return RobustScaler()
    if name == "minmax":
        return MinMaxScaler()
    if name == "none":
        return FunctionTransformer(feature_names_out="one-to-one")
    raise ParameterError(f"scaler must be one of {', '.join(SCALERS)}; got {name!r}")


def build_preprocessor(
    selection: FeatureSelection, scaler: str = "standard"
) -> ColumnTransformer:
    """Build the ColumnTransformer for the selected features.

    Numeric: median imputation, then the scaler (``standard``, ``robust``,
    ``minmax`` or ``none``). Categorical: most-frequent imputation, then one-hot
    encoding; categories unseen at fit time encode as all zeros at predict time.
    One-hot columns are not scaled: a 0/1 column already has a spread comparable
    to a standardised one, and leaving it keeps the encoding readable.

    Examples
    --------
    >>> sel = FeatureSelection(("Age",), ("Gender",))
    >>> build_preprocessor(sel).transformers[0][0]
    'numeric'
    """
    transformers = []
    if selection.numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("scale", _scaler(scaler)),
                    ]
                ),
                list(selection.numeric),
            )
        )
    elif scaler not in SCALERS:
        _scaler(scaler)
    if selection.categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        (
                            "onehot",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                        ),
                    ]
                ),
                list(selection.categorical),
            )
        )
    return ColumnTransformer(
        transformers, remainder="drop", verbose_feature_names_out=False
    )
