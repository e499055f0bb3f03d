"""``python -m custseg``: the same as the ``custseg`` command."""

from custseg.cli import main

main()
