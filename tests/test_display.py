"""custseg._display: core objects find their Jupyter HTML without importing the
report, which registers the renderers when it is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from custseg import _display


def test_core_packages_do_not_import_the_report():
    code = (
        "import sys\n"
        "import custseg.quality, custseg.prep, custseg.cluster, custseg.profile\n"
        "print('custseg.report' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_first_display_imports_the_report_and_finds_its_renderer():
    code = (
        "import sys\n"
        "import pandas as pd\n"
        "from custseg.quality import check_table\n"
        "html = check_table(pd.DataFrame({'a': [1, 2, 3]}))._repr_html_()\n"
        "print('custseg.report' in sys.modules, html.startswith('<'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True True"


def test_display_is_the_report_renderer():
    import pandas as pd

    from custseg.quality import check_table
    from custseg.report._notebook import quality_html

    report = check_table(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]}))
    assert report._repr_html_() == quality_html(report)


def test_renderers_are_found_by_class_public_name_and_base_class():
    class Shown:
        pass

    class Subclass(Shown):
        pass

    name = f"{Shown.__module__}.{Shown.__qualname__}"
    _display.register(name, lambda obj: f"<i>{type(obj).__name__}</i>")
    assert _display.html(Subclass()) == "<i>Subclass</i>"
    assert _display.renderer(Shown) is _display.renderer(Subclass)


def test_every_custseg_class_with_a_display_has_a_renderer():
    import custseg.report  # noqa: F401 - registers the renderers
    from custseg.cluster import KSelection
    from custseg.model import Segmenter
    from custseg.pipeline import Comparison, RFMAnalysis, SegmentationRun
    from custseg.profile import SegmentProfile
    from custseg.quality import QualityReport

    for cls in (
        QualityReport,
        KSelection,
        SegmentProfile,
        Segmenter,
        SegmentationRun,
        RFMAnalysis,
        Comparison,
    ):
        assert _display.renderer(cls) is not None, cls


def test_an_object_without_a_renderer_is_a_type_error():
    with pytest.raises(TypeError, match="no HTML display is registered for object"):
        _display.html(object())
