"""The tutorial notebooks in examples/ run top to bottom and show what they teach.

Notebooks are stored without outputs. Each is executed in a fresh ``python3``
kernel (nbclient), in a temporary working folder, and its outputs are checked:
no error, no warning, a figure wherever a cell draws one, and, per notebook, the
result the tutorial is about (the chosen k, the RFM cleaning counts, every
algorithm of the comparison).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KERNEL = "python3"
# A cell that calls a plotting function or a Display's plot() draws a figure.
DRAWS = re.compile(r"\bplot(_\w+)?\(")


def execute(
    path: str | os.PathLike[str], workdir: str | os.PathLike[str]
) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` top to bottom in a fresh ``python3`` kernel
    whose working folder is ``workdir``; return the executed notebook.

    The file itself is not changed. A cell that raises stops the run with
    ``nbclient.exceptions.CellExecutionError``, which shows the cell and the
    traceback.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(workdir)}},
    )
    # A kernel draws inline unless MPLBACKEND says otherwise, and importing
    # Streamlit (the app tests, in this same worker) sets MPLBACKEND=Agg.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    client.execute(env=env)
    return nb


# -- reading outputs ------------------------------------------------------------


def cell_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as text (plain and HTML)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            parts.extend(str(data.get(m, "")) for m in ("text/plain", "text/html"))
    return "\n".join(parts)


def tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    """The one cell carrying ``tag`` in its metadata."""
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def images(cell: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for out in cell.get("outputs", [])
        if out.output_type in ("execute_result", "display_data")
    )


def check_common(nb: nbformat.NotebookNode) -> None:
    """No error, no warning, and a figure in every cell that draws one."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {i}: {out.ename}: {out.evalue}"
            if out.output_type == "stream" and out.name == "stderr":
                assert "Warning" not in out.text, f"cell {i} warned:\n{out.text}"
        if DRAWS.search(cell.source):
            assert images(cell) >= 1, (
                f"cell {i} draws but shows no figure:\n{cell.source}"
            )


# -- what each notebook must show ---------------------------------------------


def check_mall_customers(nb: nbformat.NotebookNode) -> None:
    quality = cell_text(tagged(nb, "quality"))
    assert "CustomerID" in quality and "2 outliers" in quality
    assert "k = 5" in cell_text(tagged(nb, "k-selection"))
    names = cell_text(tagged(nb, "names"))
    for name in (
        "Average income and spending",
        "High income and spending",
        "High income, low spending",
        "Low income and spending",
        "Low income, high spending",
    ):
        assert name in names
    # The four new customers land in the segments their numbers suggest.
    html = tagged(nb, "predict").outputs[0].data["text/html"]
    rows = re.findall(r"<tr>\s*<th>\d+</th>(.*?)</tr>", html, flags=re.S)
    assert len(rows) == 4
    expected = [
        "Low income, high spending",
        "High income, low spending",
        "Average income and spending",
        "High income and spending",
    ]
    for row, name in zip(rows, expected, strict=True):
        assert f"<td>{name}</td>" in row
    # The model loaded back shows its segments as HTML cards.
    model = tagged(nb, "model").outputs[-1].data["text/html"]
    assert "5 customer segments" in model and model.count('class="card"') == 5


def check_rfm_online_retail(nb: nbformat.NotebookNode) -> None:
    # The bundled sample: every line is used or dropped for one counted reason.
    cleaning = cell_text(tagged(nb, "cleaning"))
    assert "65,126 lines read = 49,157 used + 15,969 dropped" in cleaning
    assert "15,448 lines dropped: no customer id." in cleaning
    assert "512 lines dropped: exact duplicate of another line." in cleaning
    assert "1,154 cancellation or return lines netted" in cleaning
    segments = cell_text(tagged(nb, "rfm-segments"))
    for name in ("Champions", "Loyal", "At Risk", "Lost"):
        assert name in segments


def check_compare_algorithms(nb: nbformat.NotebookNode) -> None:
    html = tagged(nb, "comparison-table").outputs[0].data["text/html"]
    ks = dict(re.findall(r"<th>(\w+)</th>\s*<td>(\d+)</td>", html))
    assert set(ks) == {"kmeans", "gmm", "agglomerative", "hdbscan", "kprototypes"}
    assert {ks[a] for a in ("kmeans", "gmm", "agglomerative", "kprototypes")} == {"5"}
    assert "noise" in cell_text(tagged(nb, "hdbscan-reason"))
    reseed = cell_text(tagged(nb, "reseed"))
    assert "same numbered segment with seed 0 and seed 7: 100%" in reseed


CHECKS: dict[str, Callable[[nbformat.NotebookNode], None]] = {
    "01-mall-customers.ipynb": check_mall_customers,
    "02-rfm-online-retail.ipynb": check_rfm_online_retail,
    "03-compare-algorithms.ipynb": check_compare_algorithms,
}
STORED = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))


# -- the tests ------------------------------------------------------------------


def test_every_notebook_is_executed():
    assert sorted(CHECKS) == STORED, (
        "every notebook in examples/ needs an entry in CHECKS"
    )


@pytest.mark.parametrize("name", STORED)
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: clear them"
            assert cell.execution_count is None, f"cell {i} has an execution count"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """``executed(name)``: the notebook run once per test module (the browser
    test below renders the same run the checks looked at)."""
    runs: dict[str, nbformat.NotebookNode] = {}

    def get(name: str) -> nbformat.NotebookNode:
        if name not in runs:
            with pytest.MonkeyPatch.context() as mp:
                # The RFM notebook reads this; the checks expect the bundled sample.
                mp.delenv("CUSTSEG_ONLINE_RETAIL", raising=False)
                runs[name] = execute(EXAMPLES / name, tmp_path_factory.mktemp("nb"))
        return runs[name]

    return get


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs(name, executed):
    nb = executed(name)
    check_common(nb)
    CHECKS[name](nb)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.xdist_group("notebooks")
def test_executed_notebook_reads_well_as_html(executed, chromium, tmp_path):
    """Notebook 1, executed and rendered by nbconvert, in headless Chromium:
    custseg's HTML cards and tables and every figure show. Screenshots go to
    ``<tmp>/notebook-screenshots`` (or ``CUSTSEG_SCREENSHOTS``)."""
    from nbconvert import HTMLExporter
    from playwright.sync_api import expect, sync_playwright
    from tests.test_app_browser import ARGS

    nb = executed("01-mall-customers.ipynb")
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    page_file = tmp_path / "01-mall-customers.html"
    page_file.write_text(body, encoding="utf-8")
    shots = Path(os.environ.get("CUSTSEG_SCREENSHOTS") or tmp_path / "notebook-shots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nnotebook screenshots: {shots}")
    drawn = sum(images(c) for c in nb.cells if c.cell_type == "code")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        # nbconvert's page links MathJax and require.js from a CDN: offline here.
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("file:")
                else route.abort()
            ),
        )
        page.goto(page_file.as_uri())
        outputs = page.locator(".custseg-nb")
        expect(outputs.first).to_be_visible()
        # quality report, k choice, fitted Segmenter, a profile, the loaded model
        assert outputs.count() >= 5
        cards = page.locator(".custseg-nb .card")
        assert cards.count() >= 10  # the fitted Segmenter's five, the model's five
        expect(cards.first).to_contain_text("Suggested action:")
        loaded = page.evaluate(
            "[...document.images].filter(i => i.complete && i.naturalWidth > 50).length"
        )
        assert loaded >= drawn  # every figure decoded (plus the cards' own plots)
        page.screenshot(path=str(shots / "notebook-full.png"), full_page=True)
        for i, tag in enumerate(["quality", "k-selection", "names", "model"]):
            cell = page.locator(f".celltag_{tag}").first
            assert cell.count(), f"no cell tagged {tag!r} in the rendered page"
            cell.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"notebook-{i + 1}-{tag}.png"))
        browser.close()
    assert (shots / "notebook-full.png").stat().st_size > 100_000
