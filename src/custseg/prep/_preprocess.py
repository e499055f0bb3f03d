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

__all__ = ["CATEGORICAL_WEIGHT", "SCALERS", "build_preprocessor"]

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


CATEGORICAL_WEIGHT = 0.5


def build_preprocessor(
    selection: FeatureSelection,
    scaler: str = "standard",
    categorical_weight: float = CATEGORICAL_WEIGHT,
    categories: dict[str, list[str]] | None = None,
) -> ColumnTransformer:
    """Build the ColumnTransformer for the selected features.

    Numeric: median imputation, then the scaler (``standard``, ``robust``,
    ``minmax`` or ``none``). Categorical: most-frequent imputation, then one-hot
    encoding; categories unseen at fit time encode as all zeros at predict time.
    One-hot columns are multiplied by ``categorical_weight`` (default 0.5), so
    two customers who differ only in one category are 0.5 x sqrt(2), about 0.7
    standard deviations apart. A 0/1 column on its own forms two perfectly
    separated groups, and at full weight K-Means latches onto it: on customer
    tables where gender is independent of behaviour, the "best" k becomes 2,
    one segment per gender. At 0.5 categories shape the segments without
    splitting the customers by category alone; the category mix of each segment
    is reported either way.

    ``categories`` fixes the one-hot categories of each categorical feature
    (by default, those seen when fitting). The Segmenter passes the values found
    in every row when it fits the preprocessor on a sample of a large table.

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
                            OneHotEncoder(
                                categories=[
                                    categories[c] for c in selection.categorical
                                ]
                                if categories
                                else "auto",
                                handle_unknown="ignore",
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                list(selection.categorical),
            )
        )
    if not categorical_weight >= 0:
        raise ParameterError(
            f"categorical_weight must be >= 0; got {categorical_weight!r}"
        )
    return ColumnTransformer(
        transformers,
        remainder="drop",
        verbose_feature_names_out=False,
        transformer_weights={"categorical": categorical_weight}
        if selection.categorical
        else None,
    )
