"""Transaction logs to one row per customer: finding the columns, cleaning the
lines (each dropped line counted), Recency, Frequency and Monetary value and the
other per-customer figures, and the RFM scores and named RFM segments.

:func:`custseg.rfm` (in :mod:`custseg.pipeline`) builds on this table and
segments it with the one orchestrator."""

from custseg.transactions._aggregate import (
    DROP_REASONS,
    PRICE_DISCOUNT,
    TOP_CATEGORIES,
    UNSCORED_REASONS,
    Cleaning,
    CustomerTable,
    Preferences,
    aggregate_transactions,
    check_rules,
    cleaning_from_groups,
    customer_frame,
    detect_date_format,
    identical_rule,
    log_columns,
    preference_rule,
    with_preferences,
)
from custseg.transactions._columns import (
    NO_COLUMN,
    TransactionColumns,
    find_columns,
    guess_columns,
)
from custseg.transactions._scores import (
    DEFAULT_SEGMENT_MAP,
    RFM_ACTIONS,
    SCORE_DIRECTION,
    SCORE_DIRECTION_RF,
    SegmentMap,
    fm_score,
    load_segment_map,
    parse_breaks,
    score_values,
)

__all__ = [
    "DEFAULT_SEGMENT_MAP",
    "DROP_REASONS",
    "NO_COLUMN",
    "PRICE_DISCOUNT",
    "TOP_CATEGORIES",
    "UNSCORED_REASONS",
    "RFM_ACTIONS",
    "SCORE_DIRECTION",
    "SCORE_DIRECTION_RF",
    "Cleaning",
    "CustomerTable",
    "Preferences",
    "SegmentMap",
    "TransactionColumns",
    "aggregate_transactions",
    "check_rules",
    "cleaning_from_groups",
    "customer_frame",
    "identical_rule",
    "log_columns",
    "detect_date_format",
    "find_columns",
    "guess_columns",
    "fm_score",
    "load_segment_map",
    "parse_breaks",
    "preference_rule",
    "with_preferences",
    "score_values",
]
