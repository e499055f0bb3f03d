from __future__ import annotations

import inspect
import subprocess
import sys

import custseg


def test_all_is_sorted_and_complete():
    assert custseg.__all__ == sorted(custseg.__all__)
    public = {
        n
        for n in dir(custseg)
        if not n.startswith("_") and not inspect.ismodule(getattr(custseg, n))
    }
    assert public == set(custseg.__all__)


def test_core_does_not_import_ui_libraries():
    code = (
        "import sys, custseg; custseg.Segmenter; "
        "print(sorted(m for m in ('matplotlib', 'jinja2', 'click', 'seaborn', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_errors_subclass_builtins():
    assert issubclass(custseg.InputError, ValueError)
    assert issubclass(custseg.ParameterError, TypeError)
    assert issubclass(custseg.NotFittedError, AttributeError)
    for name in custseg.__all__:
        obj = getattr(custseg, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, custseg.CustsegError)


def test_cli_start_up_imports_no_scientific_stack():
    """``custseg --help``, ``--version`` and every ``COMMAND --help`` answer
    without importing scikit-learn, matplotlib, pandas or pyarrow (the
    package root loads its public names lazily; option choices come from
    custseg._names)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from custseg.cli import cli\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(cli, ['--help']).exit_code == 0\n"
        "assert runner.invoke(cli, ['--version']).exit_code == 0\n"
        "for name in cli.commands:\n"
        "    result = runner.invoke(cli, [name, '--help'])\n"
        "    assert result.exit_code == 0 and 'Usage:' in result.output, name\n"
        "heavy = ('sklearn', 'matplotlib', 'pandas', 'pyarrow', 'scipy', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_lazy_names_resolve_to_the_real_objects():
    from custseg.io import load_table
    from custseg.model import Segmenter

    assert custseg.Segmenter is Segmenter and custseg.load_table is load_table
    assert set(custseg.__all__) <= set(dir(custseg))
    try:
        custseg.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("custseg.no_such_name did not raise")
