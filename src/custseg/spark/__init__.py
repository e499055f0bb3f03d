"""The Spark engine: the custseg pipeline on Apache Spark, through PySpark.

Install it with ``pip install "custseg[spark]"`` (Java 17 or 21 is needed too).
``custseg run DATA --engine spark`` and :func:`custseg.pipeline.run` with
``engine="spark"`` call :func:`run_spark`; ``custseg rfm LOG --engine spark``
calls :func:`aggregate_transactions_spark`; see docs/spark.md.

PySpark is imported only when a function here is called, so this package can
be imported without it.
"""

from custseg.spark._rfm import aggregate_transactions_spark
from custseg.spark._run import SparkEngine, run_spark
from custseg.spark._session import BackendUnavailableError, spark_session

__all__ = [
    "BackendUnavailableError",
    "SparkEngine",
    "aggregate_transactions_spark",
    "run_spark",
    "spark_session",
]
