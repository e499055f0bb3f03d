"""Segments where marketers act: a saved model as SQL for the warehouse
(:func:`model_sql`, ``custseg export-sql``) and behind an HTTP scoring
service (:func:`create_app`, ``custseg serve``)."""

from custseg.activation._serve import (
    DEFAULT_MAX_BYTES,
    ModelRegistry,
    api_key_from,
    create_app,
    parse_models,
    score_records,
)
from custseg.activation._sql import DIALECTS, SQL_METHODS, model_sql, rule_order

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DIALECTS",
    "SQL_METHODS",
    "ModelRegistry",
    "api_key_from",
    "create_app",
    "model_sql",
    "parse_models",
    "rule_order",
    "score_records",
]
