"""Segments where marketers act: a saved model as SQL for the warehouse
(:func:`model_sql`, ``custseg export-sql``)."""

from custseg.activation._sql import DIALECTS, SQL_METHODS, model_sql, rule_order

__all__ = ["DIALECTS", "SQL_METHODS", "model_sql", "rule_order"]
