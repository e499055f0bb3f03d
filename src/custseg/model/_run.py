"""The result of a segmentation run, and every input row with its segment."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg import _display
from custseg.cluster import NOISE_REASON, UNASSIGNED, KSelection
from custseg.model._segmenter import Segmenter
from custseg.profile import SegmentProfile, profiles_frame
from custseg.quality import QualityReport

__all__ = [
    "NAME_COLUMN",
    "SEGMENT_COLUMN",
    "SegmentationRun",
    "attach_segments",
    "output_prefix",
    "used_prefix",
]

SEGMENT_COLUMN = "segment"
NAME_COLUMN = "segment_name"


@dataclass(frozen=True)
class SegmentationRun:
    """The result of one segmentation run: data, quality, model and timings.

    The local engine holds every row in ``data``. An engine that keeps the rows
    elsewhere (Spark) holds a fixed-seed sample in ``data`` (with its labels in
    ``segmenter.labels_``), gives the full row count in ``total_rows``, and
    writes the segments itself through ``segments_writer``.

    The result is immutable (a frozen dataclass): writing it
    (:func:`custseg.write_outputs`) does not change it.

    Attributes
    ----------
    data : DataFrame
        The rows segmented (or the engine's sample).
    quality : QualityReport
    segmenter : Segmenter
        The fitted estimator: labels, segments, profiles, rules, stability.
    settings : dict
        The settings of the run, as recorded in summary.json.
    timings : dict of str to float
        Seconds per stage, recorded where each was measured.
    total_rows : int or None
    segments_writer : callable or None
    engine : str
        ``"local"`` or ``"spark"``.
    rfm : RFMAnalysis or None
        The RFM side of a run made by :func:`custseg.rfm`.
    migration : Migration or None
        Who moved between segments, for a run with ``previous=``.
    unscored : DataFrame or None
        Input records accounted for but not in ``data`` (an RFM run's
        customers with no usable purchase): their id column and a
        ``reason``. :meth:`segments_frame` lists them last, unassigned.

    Examples
    --------
    >>> from custseg import run
    >>> result = run(n_clusters=3, stability_resamples=0)
    >>> result.n_rows, len(result.profiles), result.engine
    (200, 3, 'local')
    >>> result.segments_frame()["segment"].value_counts().sum()
    np.int64(200)
    """

    data: pd.DataFrame
    quality: QualityReport
    segmenter: Segmenter
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    total_rows: int | None = None
    segments_writer: Callable[[Path], Path] | None = None
    engine: str = "local"
    rfm: Any = None  # custseg.pipeline.RFMAnalysis for runs made by rfm()
    migration: Any = None  # custseg.model.Migration for runs with previous=
    unscored: pd.DataFrame | None = None

    @classmethod
    def from_segmenter(
        cls, segmenter: Segmenter, data: pd.DataFrame
    ) -> SegmentationRun:
        """Wrap an already fitted Segmenter and its training data."""
        return cls(data, segmenter.quality_, segmenter, dict(segmenter.get_params()))

    @property
    def n_rows(self) -> int:
        """Rows in the input (``len(data)`` unless ``data`` is a sample)."""
        return len(self.data) if self.total_rows is None else self.total_rows

    @property
    def labels(self) -> np.ndarray:
        """Segment of each input row."""
        return self.segmenter.labels_

    @property
    def k_selection(self) -> KSelection:
        """How k was chosen."""
        return self.segmenter.k_selection_

    @property
    def profiles(self) -> tuple[SegmentProfile, ...]:
        """One profile per segment."""
        return self.segmenter.profiles_

    @property
    def source(self) -> str:
        """Where the data came from."""
        return self.quality.source

    def _repr_html_(self) -> str:
        """Jupyter: segment cards, a 2-D picture, and how k was chosen."""
        return _display.html(self)

    @property
    def n_unscored(self) -> int:
        """Records in :attr:`unscored` (kept in the output, in no segment)."""
        return 0 if self.unscored is None else len(self.unscored)

    def segments_frame(self) -> pd.DataFrame:
        """Every input row and column, in input order, plus segment and name;
        then the :attr:`unscored` records, unassigned, with their reason."""
        out = attach_segments(self.data, self.labels, self.segmenter)
        if not self.n_unscored:
            return out
        assert self.unscored is not None
        return append_unscored(out, self.unscored, output_prefix(self.data.columns))

    def profiles_frame(self) -> pd.DataFrame:
        """One row per segment."""
        return profiles_frame(self.profiles)


def append_unscored(
    scored: pd.DataFrame, unscored: pd.DataFrame, prefix: str
) -> pd.DataFrame:
    """``scored`` (an :func:`attach_segments` frame) with the ``unscored``
    records after it: their columns filled in, the rest empty, no segment
    number, the name ``unassigned`` and their ``reason`` as the
    unassigned reason. Integer columns become nullable integers, so that
    the empty cells of those records do not turn whole numbers into floats."""
    segment, name = prefix + SEGMENT_COLUMN, prefix + NAME_COLUMN
    reason = prefix + "unassigned_reason"
    head = scored.copy(deep=False)
    for col in head.columns:
        if pd.api.types.is_integer_dtype(head[col]) and not isinstance(
            head[col].dtype, pd.CategoricalDtype
        ):
            head[col] = head[col].astype("Int64")
    names = head[name].astype("category")
    reasons = (
        head[reason].astype(object)
        if reason in head.columns
        else pd.Series(pd.NA, index=head.index, dtype=object)
    )
    tail = pd.DataFrame(
        {c: unscored[c].to_numpy() for c in unscored.columns if c != "reason"}
    )
    out = pd.concat([head.drop(columns=[name, reason], errors="ignore"), tail])
    out = out.reset_index(drop=True)
    labels = [*names.cat.categories]
    if UNASSIGNED not in labels:
        labels.append(UNASSIGNED)
    out[segment] = out[segment].astype("Int64")
    out[name] = pd.Categorical(
        [*names.astype(object), *[UNASSIGNED] * len(tail)], categories=labels
    )
    why = [*reasons, *unscored["reason"].astype(str)]
    out[reason] = pd.Categorical(
        why, categories=pd.unique(pd.Series([w for w in why if isinstance(w, str)]))
    )
    return out


def _prefixes() -> Iterator[str]:
    yield from ("", "custseg_")
    n = 2
    while True:
        yield f"custseg_{n}_"
        n += 1


def output_prefix(columns: Iterable[Any]) -> str:
    """The prefix of the output columns (segment, segment_name,
    unassigned_reason) that no input column has: ``""``, ``"custseg_"``,
    ``"custseg_2_"``, ...

    Examples
    --------
    >>> output_prefix(["id", "age"]), output_prefix(["segment"])
    ('', 'custseg_')
    >>> output_prefix(["segment_name", "custseg_segment"])
    'custseg_2_'
    """
    taken = {str(c) for c in columns}
    return next(
        p
        for p in _prefixes()
        if not {p + SEGMENT_COLUMN, p + NAME_COLUMN, p + "unassigned_reason"} & taken
    )


def used_prefix(columns: Iterable[Any]) -> str:
    """The prefix :func:`attach_segments` used, read back from its output's
    columns: it appends its columns last, so the used segment column is the
    right-most of the candidates.

    Examples
    --------
    >>> used_prefix(["id", "segment", "segment_name"])
    ''
    >>> used_prefix(["custseg_segment", "x", "segment", "segment_name"])
    ''
    >>> used_prefix(["segment", "segment_name", "custseg_segment", "custseg_segment_name"])
    'custseg_'
    """
    names = [str(c) for c in columns]
    where = {c: i for i, c in enumerate(names)}
    found = [
        (where[p + SEGMENT_COLUMN], p)
        for p in itertools.islice(_prefixes(), len(names) + 2)
        if p + SEGMENT_COLUMN in where
    ]
    if not found:
        raise ValueError("no segment column in these columns")
    return max(found)[1]


def attach_segments(
    df: pd.DataFrame, labels: np.ndarray, segmenter: Segmenter
) -> pd.DataFrame:
    """``df`` with ``segment`` and ``segment_name`` columns added
    (``custseg_segment``/``custseg_segment_name`` if those names are taken,
    ``custseg_2_segment`` ... if those are too: :func:`output_prefix`; an
    input column is never overwritten).

    ``labels`` are segment indices (``segmenter.labels_`` or ``predict``);
    the output shows segment numbers. A row in no segment (HDBSCAN's noise)
    keeps its place with an empty segment number, the name ``unassigned`` and
    the reason in an ``unassigned_reason`` column (present only then).

    ``df`` itself is not changed, and its columns are not copied (pandas'
    copy-on-write shares them): at ten million rows a deep copy would cost
    as much memory as the table. Names are a categorical column, one small
    code per row rather than a string.
    """
    out = df.copy(deep=False)
    prefix = output_prefix(out.columns)
    labels = np.asarray(labels)
    numbers = np.asarray(
        getattr(segmenter, "segment_ids_", np.arange(len(segmenter.segment_names_)))
    )
    none = labels < 0
    safe = np.where(none, 0, labels)
    names = list(segmenter.segment_names_)
    if none.any():
        out[prefix + SEGMENT_COLUMN] = pd.array(
            np.where(none, 0, numbers[safe]), dtype="Int64"
        )
        out.loc[none, prefix + SEGMENT_COLUMN] = pd.NA
        out[prefix + NAME_COLUMN] = pd.Categorical.from_codes(
            np.where(none, len(names), safe),
            categories=pd.Index([*names, UNASSIGNED]),
        )
        out[prefix + "unassigned_reason"] = pd.Categorical.from_codes(
            np.where(none, 0, -1), categories=pd.Index([NOISE_REASON])
        )
        return out
    out[prefix + SEGMENT_COLUMN] = numbers[labels] if len(labels) else labels
    out[prefix + NAME_COLUMN] = pd.Categorical.from_codes(
        labels, categories=pd.Index(names)
    )
    return out
