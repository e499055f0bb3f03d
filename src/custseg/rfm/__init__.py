"""RFM analysis: transaction logs to Recency, Frequency and Monetary value,
scores, named RFM segments and behavioural clusters."""

from custseg.rfm._aggregate import (
    DROP_REASONS,
    Cleaning,
    CustomerTable,
    aggregate_transactions,
)
from custseg.rfm._columns import TransactionColumns, find_columns
from custseg.rfm._run import RFM_FEATURES, RFMAnalysis, rfm, rfm_customers
from custseg.rfm._scores import (
    DEFAULT_SEGMENT_MAP,
    RFM_ACTIONS,
    SCORE_DIRECTION,
    SegmentMap,
    fm_score,
    load_segment_map,
    score_values,
)

__all__ = [
    "DEFAULT_SEGMENT_MAP",
    "DROP_REASONS",
    "RFM_ACTIONS",
    "RFM_FEATURES",
    "SCORE_DIRECTION",
    "Cleaning",
    "CustomerTable",
    "RFMAnalysis",
    "SegmentMap",
    "TransactionColumns",
    "aggregate_transactions",
    "find_columns",
    "fm_score",
    "load_segment_map",
    "rfm",
    "rfm_customers",
    "score_values",
]
