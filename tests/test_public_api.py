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
