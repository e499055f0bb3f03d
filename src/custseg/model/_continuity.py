"""Label continuity: keep last run's segment numbers and names where a segment
persists, and say how customers moved.

Method
------
1. The previous model assigns today's customers to *its* segments (the same
   way ``custseg predict`` would), so both segmentations label the same rows.
2. For every pair of a new and a previous segment, the Jaccard similarity of
   their customers, ``|new & old| / |new | old|``.
3. The Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) pairs new
   segments with previous ones so that the total Jaccard is largest; a pair
   counts as *the same segment* when its Jaccard is at least
   :data:`MATCH_JACCARD`. Such a segment keeps the previous number and name.
4. A new segment without a match gets a fresh number, above every number used
   before, so an old number never comes back with another meaning. A previous
   segment without a match has *vanished*. Segment numbers can therefore have
   gaps.

The migration matrix counts customers by (previous segment, new segment); its
diagonal of matched pairs holds the customers who stayed.

Matching on shared customers rather than on centroids works whatever the
algorithm (HDBSCAN has no centroids) and whether or not the scaling moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import ParameterError

__all__ = ["MATCH_JACCARD", "Migration", "continue_from"]

MATCH_JACCARD = 0.5
_NONE = "unassigned"


@dataclass(frozen=True)
class Migration:
    """How the customers moved between a previous model's segments and the new ones.

    Attributes
    ----------
    previous : str
        Where the previous model came from.
    matrix : DataFrame
        Customers by previous segment (rows, ``"3: Careful spenders"``) and new
        segment (columns); an ``unassigned`` row or column where either model
        left customers out.
    matches : list of dict
        For each new segment that persists: its number, name and Jaccard.
    persisted, new, vanished : tuple of int
        Segment numbers kept, newly created, and gone.
    stayed, moved : int
        Customers whose segment number is the same / differs.
    """

    previous: str
    matrix: pd.DataFrame
    matches: tuple[dict[str, Any], ...]
    persisted: tuple[int, ...]
    new: tuple[int, ...]
    vanished: tuple[int, ...]
    stayed: int
    moved: int

    def sentence(self) -> str:
        """One sentence for the report and the CLI.

        Examples
        --------
        >>> m = Migration("last.skops", pd.DataFrame(), (), (1, 2), (5,), (0,), 90, 10)
        >>> m.sentence()  # doctest: +NORMALIZE_WHITESPACE
        'Compared with last.skops: segments 1 and 2 kept their numbers and names;
        segment 5 is new; segment 0 has no successor. 10 of 100 customers (10.0%)
        are in a segment with another number than the previous model gives them.'
        """

        def numbers(values: tuple[int, ...]) -> str:
            words = [str(v) for v in values]
            if len(words) > 1:
                return "segments " + ", ".join(words[:-1]) + " and " + words[-1]
            return "segment " + words[0]

        parts = []
        if self.persisted:
            plural = len(self.persisted) > 1
            parts.append(
                f"{numbers(self.persisted)} kept "
                + ("their numbers and names" if plural else "its number and name")
            )
        else:
            parts.append("no segment persisted")
        if self.new:
            parts.append(
                f"{numbers(self.new)} {'are' if len(self.new) > 1 else 'is'} new"
            )
        if self.vanished:
            plural = len(self.vanished) > 1
            parts.append(
                f"{numbers(self.vanished)} "
                + ("have no successor" if plural else "has no successor")
            )
        total = self.stayed + self.moved
        share = self.moved / total if total else 0.0
        return (
            f"Compared with {self.previous}: "
            + "; ".join(parts)
            + f". {self.moved:,} of {total:,} customers ({share:.1%}) are in a "
            "segment with another number than the previous model gives them."
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return {
            "previous": self.previous,
            "match_jaccard": MATCH_JACCARD,
            "matches": list(self.matches),
            "persisted": list(self.persisted),
            "new": list(self.new),
            "vanished": list(self.vanished),
            "stayed": self.stayed,
            "moved": self.moved,
            "matrix": {
                "previous": [str(i) for i in self.matrix.index],
                "current": [str(c) for c in self.matrix.columns],
                "counts": self.matrix.to_numpy().astype(int).tolist(),
            },
        }


def continue_from(
    segmenter: Any, previous: Any, data: pd.DataFrame, *, source: str = "previous model"
) -> Migration:
    """Renumber and rename ``segmenter``'s segments after ``previous`` (both
    fitted Segmenters; ``data`` is ``segmenter``'s training table) and return
    the migration. ``segmenter`` is changed in place."""
    missing = [
        c for c in previous.selection_.columns if c not in set(map(str, data.columns))
    ]
    if missing:
        raise ParameterError(
            f"the previous model ({source}) uses columns the data do not have: "
            f"{', '.join(repr(c) for c in missing)}; continuity needs them to "
            "place today's customers in the previous segments"
        )
    old_numbers = previous.segment_numbers(previous.predict(data))
    new_index = np.asarray(segmenter.labels_)
    prev_ids = [int(i) for i in previous.segment_ids_]
    prev_names = {
        int(i): str(n)
        for i, n in zip(previous.segment_ids_, previous.segment_names_, strict=True)
    }
    k, m = len(segmenter.segment_names_), len(prev_ids)
    order = np.argsort(prev_ids)
    old_col = order[
        np.minimum(np.searchsorted(np.asarray(prev_ids)[order], old_numbers), m - 1)
    ]
    both = (new_index >= 0) & (old_numbers >= 0)
    overlap = np.bincount(new_index[both] * m + old_col[both], minlength=k * m).reshape(
        k, m
    )
    new_sizes = np.bincount(new_index[new_index >= 0], minlength=k)
    old_sizes = np.bincount(old_col[old_numbers >= 0], minlength=m)
    union = new_sizes[:, None] + old_sizes[None, :] - overlap
    jaccard = np.divide(
        overlap, union, out=np.zeros(overlap.shape, dtype=float), where=union > 0
    )
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-jaccard)
    ids = np.full(k, -1, dtype=np.int64)
    names = list(segmenter.segment_names_)
    matches = []
    for r, c in zip(rows, cols, strict=True):
        if jaccard[r, c] >= MATCH_JACCARD:
            ids[r] = prev_ids[c]
            names[r] = prev_names[prev_ids[c]]
            matches.append(
                {
                    "segment": prev_ids[c],
                    "name": prev_names[prev_ids[c]],
                    "jaccard": round(float(jaccard[r, c]), 4),
                }
            )
    # Numbers are never reused: above every number the previous model used or
    # inherited (its high-water mark), not only those it still has.
    next_id = max([*prev_ids, int(getattr(previous, "max_segment_id_", -1)), -1]) + 1
    kept_names = {names[i] for i in range(k) if ids[i] >= 0}
    for i in range(k):
        if ids[i] < 0:
            ids[i] = next_id
            next_id += 1
            if names[i] in kept_names:
                names[i] = f"{names[i]} (new)"
    segmenter.renumber(ids, names)
    segmenter.max_segment_id_ = max(
        int(ids.max()), int(getattr(previous, "max_segment_id_", -1)), *prev_ids
    )
    numbers = segmenter.segment_numbers(segmenter.labels_)
    matrix = _matrix(old_numbers, numbers, previous, segmenter)
    persisted = tuple(sorted(m["segment"] for m in matches))
    return Migration(
        previous=source,
        matrix=matrix,
        matches=tuple(sorted(matches, key=lambda m: m["segment"])),
        persisted=persisted,
        new=tuple(int(i) for i in sorted(set(ids.tolist()) - set(persisted))),
        vanished=tuple(v for v in prev_ids if v not in set(persisted)),
        stayed=int((old_numbers == numbers).sum()),
        moved=int((old_numbers != numbers).sum()),
    )


def _matrix(
    old: np.ndarray, new: np.ndarray, previous: Any, current: Any
) -> pd.DataFrame:
    def labels(seg: Any, values: np.ndarray) -> tuple[list[int], list[str]]:
        pairs = sorted(
            zip(
                (int(i) for i in seg.segment_ids_),
                (str(n) for n in seg.segment_names_),
                strict=True,
            )
        )
        keys = [i for i, _ in pairs]
        text = [f"{i}: {n}" for i, n in pairs]
        if (values < 0).any():
            keys.append(-1)
            text.append(_NONE)
        return keys, text

    row_keys, row_text = labels(previous, old)
    col_keys, col_text = labels(current, new)
    table = pd.crosstab(
        pd.Categorical(old, categories=row_keys),
        pd.Categorical(new, categories=col_keys),
        dropna=False,
    )
    table.index = pd.Index(row_text, name="previous segment")
    table.columns = pd.Index(col_text, name="new segment")
    return table
