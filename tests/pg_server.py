"""A throwaway PostgreSQL server for the database tests and benchmark.

``initdb`` in a temporary folder, ``pg_ctl start`` on 127.0.0.1 on a free port
with password authentication, and stop plus removal at the end. Debian's
``postgresql`` package is installed when the binaries are missing and we are
root; as root the server runs as the unprivileged ``postgres`` user, since
initdb refuses to run as root.
"""

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

PG_PASSWORD = "Zq9-hunter2-s3cret"


class PostgresUnavailable(RuntimeError):
    """The binaries are missing and cannot be installed, or the server did not
    start; the message says which."""


@dataclass(frozen=True)
class Postgres:
    """A running server; ``url`` carries the password."""

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


def _bindir() -> Path | None:
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


def _install() -> Path | None:
    from tests.system import apt_install

    return _bindir() if apt_install("postgresql") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[Postgres]:
    """Start a server for the ``with`` block; it is stopped and removed after."""
    bindir = _bindir() or _install()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL is needed: install Debian's 'postgresql' package (the "
            "database tests can be deselected with -m 'not postgres')."
        )
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="custseg-pg-"))
    data, log, pwfile = base / "data", base / "server.log", base / "pw"
    pwfile.write_text(PG_PASSWORD)
    if user:
        shutil.chown(base, user=user)
        shutil.chown(pwfile, user=user)

    def pg(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bindir / args[0]), *args[1:]],
            user=user,
            capture_output=True,
            text=True,
            check=check,
            cwd=base,
        )

    try:
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
            raise PostgresUnavailable(
                f"PostgreSQL did not start: {exc.stderr}\n{text}"
            ) from exc
        try:
            yield Postgres(
                f"postgresql://custseg:{PG_PASSWORD}@127.0.0.1:{port}/postgres", port
            )
        finally:
            pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)
