"""Starting Spark safely: dependency checks, loopback binding, quiet logging.

Nothing here imports PySpark at module level: ``import custseg.spark`` works
without it, and the first call that needs Spark says how to install it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custseg.errors import BackendUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "INSTALL_HINT",
    "BackendUnavailableError",
    "is_local_master",
    "quiet_pyspark",
    "require_java",
    "require_pyspark",
    "spark_session",
]

INSTALL_HINT = 'pip install "custseg[spark]"'
DEFAULT_MASTER = "local[*]"
LOOPBACK = "127.0.0.1"
# The oldest PySpark with DataFrame.toArrow and Column.try_cast.
MIN_PYSPARK = (4, 0)


def require_pyspark() -> Any:
    """Import and return the ``pyspark`` module, or raise with the install hint.

    Raises
    ------
    BackendUnavailableError
        PySpark is not installed (or too old).
    """
    try:
        pyspark = importlib.import_module("pyspark")
    except ImportError as exc:
        raise BackendUnavailableError(
            "The Spark engine needs PySpark, which is not installed. "
            f"Install it with: {INSTALL_HINT}"
        ) from exc
    found = tuple(int(p) for p in re.findall(r"\d+", pyspark.__version__)[:2])
    if found < MIN_PYSPARK:
        raise BackendUnavailableError(
            f"The Spark engine needs PySpark >= {'.'.join(map(str, MIN_PYSPARK))}; "
            f"found {pyspark.__version__}. Upgrade it with: {INSTALL_HINT}"
        )
    return pyspark


def require_java() -> str:
    """Path of the ``java`` that Spark will start, or raise a clear error.

    Spark looks at ``JAVA_HOME`` first, then at ``java`` on the ``PATH``.

    Raises
    ------
    BackendUnavailableError
        No Java runtime found.
    """
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if java.is_file() and os.access(java, os.X_OK):
            return str(java)
        raise BackendUnavailableError(
            f"The Spark engine needs Java, but JAVA_HOME={home} has no bin/java. "
            "Point JAVA_HOME at a Java 17 or 21 installation, or unset it to use "
            "the java on the PATH."
        )
    found = shutil.which("java")
    if found:
        return found
    raise BackendUnavailableError(
        "The Spark engine needs Java (17 or 21), and none was found: JAVA_HOME is "
        "not set and there is no 'java' on the PATH. Install a JDK (e.g. "
        "'apt-get install openjdk-17-jre-headless') or set JAVA_HOME."
    )


def is_local_master(master: str) -> bool:
    """True for masters that run Spark inside this process (``local``, ``local[4]``).

    Examples
    --------
    >>> [is_local_master(m) for m in ["local", "local[*]", "spark://h:7077", "yarn"]]
    [True, True, False, False]
    """
    return master == "local" or master.startswith("local[")


def _local_threads(master: str) -> int:
    """Worker threads of a local master: ``local`` 1, ``local[4]`` 4, ``local[*]``
    every core (``local[4,2]`` retries failed tasks; the first number counts)."""
    m = re.match(r"local\[(\*|\d+)", master)
    if not m:
        return 1
    if m.group(1) == "*":
        return os.cpu_count() or 1
    return max(1, int(m.group(1)))


@contextlib.contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Silence the warnings PySpark raises from its own code.

    PySpark 4.3 warns on every conversion to or from pandas when pandas is 3.x
    (a ``FutureWarning`` that it "does not yet fully support" it, and pandas'
    ``Pandas4Warning`` about a ``copy`` keyword inside PySpark). Neither is
    actionable by custseg's users, and the test suite turns warnings into
    errors, so they are ignored here, around the calls that raise them only,
    and only when they come from PySpark's own modules.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
        warnings.filterwarnings("ignore", module=r"py4j(\.|$)")
        yield


def spark_session(
    master: str | None = None,
    *,
    app_name: str = "custseg",
    config: dict[str, str] | None = None,
) -> SparkSession:
    """Get (or start) a SparkSession that is safe to run on a shared machine.

    For local masters (``local``, ``local[N]``, ``local[*]``; the default is
    ``local[*]``) Spark binds to the loopback interface only: ``SPARK_LOCAL_IP``
    is set to 127.0.0.1 before the JVM starts, and so are ``spark.driver.host``
    and ``spark.driver.bindAddress``; without them the driver listens on the
    machine's external interface. For cluster masters (``spark://host:7077``,
    ``yarn``, ``k8s://...``) the driver must be reachable from the executors,
    so nothing is bound to loopback.

    The Spark web UI is always off (``spark.ui.enabled=false``) and so is the
    console progress bar; logging is set to ERROR. Local masters get
    ``spark.sql.shuffle.partitions`` of twice the worker threads (Spark's 200
    is meant for clusters). ``config`` adds or overrides settings.

    When a session is already running (in a notebook, or under spark-submit)
    Spark returns it; settings that only apply at start-up (the bind address,
    the UI) then keep the values that session started with. The session is a
    context manager: ``with spark_session("local[2]") as spark: ...`` stops it
    at the end; otherwise call ``spark.stop()``.

    Raises
    ------
    BackendUnavailableError
        PySpark or Java is missing.

    Examples
    --------
    Not run as a doctest (starting Spark takes seconds)::

        with spark_session("local[2]") as spark:
            spark.conf.get("spark.driver.bindAddress")  # '127.0.0.1'
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    master = master or DEFAULT_MASTER
    log_config = Path(__file__).with_name("log4j2.properties")
    settings: dict[str, str] = {
        # Errors only, instead of Spark's start-up chatter on stderr.
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log_config}",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    active = SparkSession.getActiveSession()
    if is_local_master(master):
        settings |= {
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.sql.shuffle.partitions": str(2 * _local_threads(master)),
        }
        if active is None:
            # Read by the JVM at start-up (and by Spark's launcher scripts).
            os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    settings |= config or {}
    if active is None:
        require_java()
    builder: Any = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    with quiet_pyspark():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark  # type: ignore[no-any-return]
