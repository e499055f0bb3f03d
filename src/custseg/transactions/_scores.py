"""RFM scores 1-5 and the named RFM segments.

Scores
------
Each of recency, frequency and monetary value gets a score from 1 to 5, and 5
always means best: the most recent, the most frequent, the highest spend. By
default a customer's score counts the fifths of customers they beat::

    score = 1 + floor(5 x (share of customers with a strictly worse value))

so equal values always get equal scores, and a skewed column does not break
the binning: when 60% of customers bought once, they all score 1 on frequency
(they beat nobody) and a customer with two orders beats 60% and scores 4.
With unique values this is exactly quintiles. Custom breaks replace quantiles
with four thresholds per score (see :func:`score_values`).

Segments
--------
The named segment comes from a map of the recency score (rows) against the
frequency-monetary score, ``FM = floor((F + M + 1) / 2)`` (their mean, rounded
half up), in columns. Every one of the 25 cells belongs to exactly one
segment, so no rule order decides anything::

    R \\ FM  1                2                   3                   4          5
    5       New Customers    Potential Loyalist  Potential Loyalist  Champions  Champions
    4       Promising        Potential Loyalist  Potential Loyalist  Loyal      Loyal
    3       About to Sleep   About to Sleep      Need Attention      Loyal      Loyal
    2       Hibernating      Hibernating         At Risk             At Risk    Cannot Lose Them
    1       Lost             Lost                At Risk             At Risk    Cannot Lose Them

A user's own map (a CSV of ``recency_score,fm_score,segment[,action]``
covering the 25 cells once each) replaces it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from custseg.errors import InputError, ParameterError

__all__ = [
    "DEFAULT_SEGMENT_MAP",
    "RFM_ACTIONS",
    "SCORE_DIRECTION",
    "SCORE_DIRECTION_RF",
    "SegmentMap",
    "fm_score",
    "load_segment_map",
    "score_values",
]

SCORE_DIRECTION = (
    "Scores run from 1 to 5 and 5 is always best: R 5 = bought most recently, "
    "F 5 = ordered most often, M 5 = spent the most."
)
# The same for a log with no money (no M score).
SCORE_DIRECTION_RF = (
    "Scores run from 1 to 5 and 5 is always best: R 5 = bought most recently, "
    "F 5 = ordered most often."
)

# Rows: recency score 5 (top) to 1. Columns: FM score 1 to 5.
_GRID = {
    5: (
        "New Customers",
        "Potential Loyalist",
        "Potential Loyalist",
        "Champions",
        "Champions",
    ),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Loyal"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"),
    1: ("Lost", "Lost", "At Risk", "At Risk", "Cannot Lose Them"),
}

RFM_ACTIONS: dict[str, str] = {
    "Champions": "Reward them: early access, loyalty perks and referral asks; "
    "they are your best advocates.",
    "Loyal": "Upsell higher-value products, ask for reviews, and keep them in "
    "the loyalty programme.",
    "Potential Loyalist": "Offer membership or a loyalty programme and "
    "personalised recommendations to turn recent buyers into regulars.",
    "New Customers": "Onboard well: a welcome series, help with the first "
    "product, and an easy second purchase.",
    "Promising": "Build awareness of the range with free trials or samples; "
    "they came back but spend little.",
    "Need Attention": "Reactivate with limited-time offers based on what "
    "they bought before.",
    "About to Sleep": "Share popular products and a modest discount before they lapse.",
    "At Risk": "Send personalised win-back emails and offers; they used to "
    "buy often or spend well.",
    "Cannot Lose Them": "Win them back in person: call, survey what went "
    "wrong, and offer a strong incentive.",
    "Hibernating": "Offer other relevant products and special discounts; "
    "recreate brand value.",
    "Lost": "Try one reactivation campaign, otherwise leave them out of paid "
    "campaigns.",
}


@dataclass(frozen=True)
class SegmentMap:
    """A 5 x 5 map from (recency score, FM score) to a segment name, plus an
    action per segment."""

    cells: dict[tuple[int, int], str]
    actions: dict[str, str]

    def __post_init__(self) -> None:
        expected = {(r, fm) for r in range(1, 6) for fm in range(1, 6)}
        missing = sorted(expected - set(self.cells))
        extra = sorted(set(self.cells) - expected)
        if missing or extra:
            raise ParameterError(
                "an RFM segment map needs exactly the 25 cells with recency and "
                f"FM scores 1-5; missing {missing}, unexpected {extra}"
            )

    @property
    def segments(self) -> list[str]:
        """Segment names, best cell first (by R + FM, then R)."""
        order = sorted(self.cells, key=lambda c: (-(c[0] + c[1]), -c[0]))
        return list(dict.fromkeys(self.cells[c] for c in order))

    def lookup(self, r: np.ndarray, fm: np.ndarray) -> np.ndarray:
        """Segment name of each (recency score, FM score) pair."""
        table = np.empty((6, 6), dtype=object)
        for (ri, fi), name in self.cells.items():
            table[ri, fi] = name
        return table[np.asarray(r, dtype=np.int64), np.asarray(fm, dtype=np.int64)]

    def grid(self) -> pd.DataFrame:
        """The map as a table: recency score 5..1 down, FM score 1..5 across."""
        return pd.DataFrame(
            [[self.cells[(r, fm)] for fm in range(1, 6)] for r in range(5, 0, -1)],
            index=pd.Index(range(5, 0, -1), name="recency_score"),
            columns=pd.Index(range(1, 6), name="fm_score"),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "cells": [
                {"recency_score": r, "fm_score": fm, "segment": name}
                for (r, fm), name in sorted(self.cells.items())
            ],
            "actions": dict(self.actions),
        }


DEFAULT_SEGMENT_MAP = SegmentMap(
    {(r, fm + 1): name for r, row in _GRID.items() for fm, name in enumerate(row)},
    RFM_ACTIONS,
)


def load_segment_map(path: str | os.PathLike[str]) -> SegmentMap:
    """Read a segment map from a CSV with columns ``recency_score``,
    ``fm_score``, ``segment`` and optionally ``action``, one row per cell."""
    name = str(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the segment map ({exc})", path=name) from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    needed = ["recency_score", "fm_score", "segment"]
    absent = [c for c in needed if c not in table.columns]
    if absent:
        raise InputError(
            f"the segment map needs the columns {', '.join(needed)}; missing "
            f"{', '.join(absent)}",
            path=name,
        )
    cells: dict[tuple[int, int], str] = {}
    for i, row in enumerate(table.itertuples(index=False), start=2):
        try:
            key = (int(str(row.recency_score)), int(str(row.fm_score)))
        except ValueError as exc:
            raise InputError(
                f"scores must be whole numbers 1-5 at line {i}", path=name
            ) from exc
        if key in cells:
            raise InputError(
                f"cell recency {key[0]}, FM {key[1]} is mapped twice (line {i}); "
                "every cell must belong to exactly one segment",
                path=name,
            )
        cells[key] = str(row.segment).strip()
    actions = dict(RFM_ACTIONS)
    if "action" in table.columns:
        for seg, action in zip(table["segment"], table["action"], strict=True):
            if action.strip():
                actions[seg.strip()] = action.strip()
    try:
        return SegmentMap(cells, actions)
    except ParameterError as exc:
        raise InputError(str(exc), path=name) from exc


def score_values(
    values: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool,
    breaks: Sequence[float] | None = None,
) -> np.ndarray:
    """Scores 1-5 for one of R, F or M; 5 is best.

    Without ``breaks``: ``1 + floor(5 x share of customers strictly worse)``.
    With ``breaks``, four increasing thresholds: for a higher-is-better column
    (F, M) a value up to ``breaks[0]`` scores 1, up to ``breaks[1]`` scores 2,
    ... and above ``breaks[3]`` scores 5; for recency (lower is better) a value
    up to ``breaks[0]`` days scores 5, up to ``breaks[1]`` scores 4, ... and
    above ``breaks[3]`` scores 1.

    Examples
    --------
    >>> score_values([1, 1, 1, 2, 5], higher_is_better=True).tolist()
    [1, 1, 1, 4, 5]
    >>> score_values([10, 40, 200], higher_is_better=False, breaks=[30, 90, 180, 365]).tolist()
    [5, 4, 2]
    """
    x = np.asarray(values, dtype=np.float64)
    if breaks is not None:
        edges = np.asarray(list(breaks), dtype=np.float64)
        if len(edges) != 4 or not np.all(np.diff(edges) > 0):
            raise ParameterError(
                f"breaks must be 4 increasing numbers; got {list(breaks)}"
            )
        # Number of thresholds strictly below the value: 0..4.
        above = np.searchsorted(edges, x, side="left")
        scores = 1 + above if higher_is_better else 5 - above
        return scores.astype(np.int8)
    n = len(x)
    if n == 0:
        return np.empty(0, dtype=np.int8)
    sorted_x = np.sort(x)
    if higher_is_better:
        worse = np.searchsorted(sorted_x, x, side="left")  # strictly smaller
    else:
        worse = n - np.searchsorted(sorted_x, x, side="right")  # strictly larger
    return (1 + np.minimum(4, (5 * worse) // n)).astype(np.int8)


def fm_score(f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The frequency-monetary score: the mean of F and M, rounded half up."""
    return (
        (np.asarray(f, dtype=np.int64) + np.asarray(m, dtype=np.int64) + 1) // 2
    ).astype(np.int8)


def parse_breaks(
    text: Mapping[str, str | Sequence[float]] | None,
) -> dict[str, list[float]]:
    """``{"recency": "30,90,180,365"}`` (or lists) as lists of floats."""
    out: dict[str, list[float]] = {}
    for key, value in (text or {}).items():
        if key not in ("recency", "frequency", "monetary"):
            raise ParameterError(
                f"breaks are for recency, frequency or monetary; got {key!r}"
            )
        if value is None or value == "":
            continue
        try:
            items = (
                [float(v) for v in str(value).split(",")]
                if isinstance(value, str)
                else [float(v) for v in value]
            )
        except ValueError as exc:
            raise ParameterError(
                f"{key} breaks must be four numbers separated by commas; got {value!r}"
            ) from exc
        out[key] = items
    return out
