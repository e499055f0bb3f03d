"""The web app for analysts who do not code (Streamlit), started by ``custseg app``.

The page script (``streamlit_app.py``) is thin: it calls the functions of
:mod:`custseg.app._logic`, which call the library. Importing this package does
not import Streamlit; :func:`launch` says how to install it when it is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from custseg.app._logic import DEFAULT_MAX_UPLOAD_MB
from custseg.errors import BackendUnavailableError

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "SCRIPT", "launch", "streamlit_command"]

SCRIPT = Path(__file__).with_name("streamlit_app.py")


def streamlit_command(
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
) -> list[str]:
    """The ``streamlit run`` command line that serves the app.

    Examples
    --------
    >>> command = streamlit_command(port=9000)
    >>> command[3], command[command.index("--server.port") + 1]
    ('run', '9000')
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(SCRIPT),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.maxUploadSize",
        str(max_upload_mb),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",  # no "Deploy" button: analysts have nothing to deploy
        "minimal",
    ]


def launch(
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
) -> int:
    """Serve the app until interrupted; returns Streamlit's exit status.

    Raises
    ------
    BackendUnavailableError
        Streamlit is not installed.
    """
    if importlib.util.find_spec("streamlit") is None:
        raise BackendUnavailableError(
            "the web app needs Streamlit, which is not installed. Install it "
            'with: pip install "custseg[app]"'
        )
    command = streamlit_command(host=host, port=port, max_upload_mb=max_upload_mb)
    if os.name == "posix":
        # Become the server, so that a signal to `custseg app` (Ctrl+C, a
        # service manager's SIGTERM) reaches Streamlit itself, not a parent
        # that would die and leave the server running.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
