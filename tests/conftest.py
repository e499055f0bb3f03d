"""Shared fixtures: the bundled mall data, planted blobs, and a Chromium finder."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from custseg.datasets import load_mall_customers

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
INCOME = "Annual Income (k$)"
SPENDING = "Spending Score (1-100)"


@pytest.fixture
def mall_df() -> pd.DataFrame:
    """The bundled 200-row mall customers table."""
    return load_mall_customers()


def planted_blobs(
    k: int, seed: int, n_per: int = 60, dim: int = 4
) -> tuple[pd.DataFrame, np.ndarray]:
    """Well-separated Gaussian blobs: centres at least 8 standard deviations apart."""
    rng = np.random.default_rng(seed)
    centres: list[np.ndarray] = []
    while len(centres) < k:
        c = rng.uniform(-20, 20, size=dim)
        if all(np.linalg.norm(c - o) >= 8 for o in centres):
            centres.append(c)
    X = np.vstack([rng.normal(c, 1.0, size=(n_per, dim)) for c in centres])
    y = np.repeat(np.arange(k), n_per)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(dim)]), y


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to a Chromium binary; installs Debian's package when missing and root."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "update", "-qq"], check=True, env=env, capture_output=True
        )
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env=env,
            capture_output=True,
        )
        found = shutil.which("chromium")
        if found:
            return found
    pytest.fail(
        "Chromium is needed for browser tests: install Debian's 'chromium' "
        "package, or deselect them with -m 'not browser'."
    )


# -- a throwaway PostgreSQL server ---------------------------------------------

PG_PASSWORD = "Zq9-hunter2-s3cret"


@dataclass(frozen=True)
class Postgres:
    """A running test server; ``url`` carries the password."""

    url: str
    port: int

    @contextlib.contextmanager
    def engine(self) -> Iterator[Any]:
        """An SQLAlchemy engine on the server, disposed on exit."""
        import sqlalchemy as sa

        engine = sa.create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://")
        )
        try:
            yield engine
        finally:
            engine.dispose()


def _postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if found:
        return found[0].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster made with initdb in a temporary folder, listening on
    127.0.0.1 on a free port, with password authentication; stopped and removed
    at the end. Installs Debian's ``postgresql`` package when missing and root.
    As root, the server runs as the unprivileged ``postgres`` user (initdb
    refuses to run as root)."""
    bindir = _postgres_bindir()
    if bindir is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql"],
            env=env,
            capture_output=True,
            check=True,
        )
        bindir = _postgres_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL is needed for the database tests: install Debian's "
            "'postgresql' package, or deselect them with -m 'not postgres'."
        )
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="custseg-pg-"))
    if user:
        shutil.chown(base, user=user)
    data, log, pwfile = base / "data", base / "server.log", base / "pw"
    pwfile.write_text(PG_PASSWORD)
    if user:
        shutil.chown(pwfile, user=user)

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bindir / args[0]), *args[1:]],
            user=user,
            capture_output=True,
            text=True,
            check=True,
            cwd=base,
        )

    pg(
        "initdb", "-D", str(data), "-U", "custseg", f"--pwfile={pwfile}",
        "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
    )  # fmt: skip
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    try:
        pg("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    except subprocess.CalledProcessError as exc:
        text = log.read_text() if log.exists() else ""
        pytest.fail(f"PostgreSQL did not start: {exc.stderr}\n{text}")
    try:
        yield Postgres(
            f"postgresql://custseg:{PG_PASSWORD}@127.0.0.1:{port}/postgres", port
        )
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            user=user,
            capture_output=True,
            cwd=base,
        )
        shutil.rmtree(base, ignore_errors=True)
