"""System packages the slow test tiers need (Chromium, Java, PostgreSQL),
installed with Debian's apt-get when they are missing and we are root, so that
README's test command passes on a fresh machine with nothing installed by
hand. Elsewhere the tests fail with a message that says what to install."""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["apt_install"]


def apt_install(*packages: str) -> bool:
    """Install Debian ``packages``; False when this is not possible here
    (not root, or no apt-get). ``apt-get update`` runs once per process."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not getattr(apt_install, "updated", False):
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        apt_install.updated = True  # type: ignore[attr-defined]
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *packages],
        env=env,
        capture_output=True,
        check=True,
    )
    return True
