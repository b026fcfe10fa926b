"""docs/notebooks: each runs from a clean kernel, top to bottom, without an error (nbclient), and is
committed without outputs. Running them takes about a minute, so they are marked `slow` and CI runs
them in a step of their own (.ci/run): `pytest -m slow tests/functional/test_notebooks.py`."""

import json
import re

import pytest

from ..conftest import ROOT

nbclient = pytest.importorskip("nbclient", reason="the notebooks need the test extra (nbclient, ipykernel)")
nbformat = pytest.importorskip("nbformat", reason="the notebooks need the test extra (nbformat)")
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
SHOWS = {"student_reproduction.ipynb": "KPIs within the reference's 95% CI",
         "researcher_sweep.ipynb": "mu*",
         "planner_question.ipynb": "The cheapest option that meets|No option meets"}   # either is an answer


def test_the_three_notebooks_are_there_without_outputs():
    assert [p.name for p in NOTEBOOKS] == sorted(SHOWS)
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert cells and all(not c["outputs"] and c["execution_count"] is None for c in cells), path.name


@pytest.mark.slow                     # about a minute for the three: CI runs them in a step of their own
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_from_a_clean_kernel(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)
    assert re.search(SHOWS[path.name], text), text[-2000:]
