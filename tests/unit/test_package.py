"""The package as installed: its name, its packages, its bundled data."""

import tomllib

import pytest

import gridsim
from gridsim.data import folder

from ..conftest import ROOT


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"gridsim" + ("." + ".".join(p.parent.relative_to(ROOT / "sim").parts) if p.parent != ROOT / "sim" else "")
             for p in (ROOT / "sim").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
    assert config["package-dir"]["gridsim"] == "sim"


def test_bundled_data_is_found_through_the_package():
    assert (folder("scenarios") / "meihekou_2020.toml").is_file()
    assert (folder("scenarios") / "validation" / "mmc.toml").is_file()
    assert sorted(p.name for p in folder("experiments").glob("E*.toml"))[0] == "E1_grid_size.toml"
    assert any(folder("reference").glob("E3_*.quick.json"))
    assert gridsim.__version__


def test_help_on_the_package_is_a_page_and_names_everything_it_offers():
    import pydoc

    import gridsim
    text = pydoc.render_doc(gridsim, renderer=pydoc.plaintext)
    assert len(text.splitlines()) < 120
    for name in gridsim._API + ("GridModel",):
        assert name in text and getattr(gridsim, name) is not None


def test_a_machines_first_compile_is_announced_once():
    """The first run on a machine compiles the journey for a minute or two: the command says so,
    once, rather than sit silent (checked on small functions numba has never seen)."""
    from numba import njit

    from gridsim.model.run import compile_notice

    said: list[str] = []
    with compile_notice(said.append):
        njit(lambda x: x + 1)(1)
        njit(lambda x: x * 2)(1)
    njit(lambda x: x - 1)(1)                      # after it: nothing more is said
    assert len(said) == 1 and said[0].startswith("compiling the simulation")


@pytest.mark.parametrize("dask", [None, "tcp://127.0.0.1:1"])
def test_a_local_pool_has_the_journey_compiled_before_its_workers_start(monkeypatch, dask):
    """Else, on a machine's first run, each worker compiles it at once, where no command can say so.
    (The suite's kernels are compiled already, so the order of the calls is what is checked.) A
    remote cluster's workers are other machines: the parent's compiling would not reach them."""
    from gridsim.experiments import sweep
    from gridsim.model import run

    calls: list[str] = []
    monkeypatch.setattr(run, "compile_kernels", lambda: calls.append("compile"))
    monkeypatch.setattr(sweep.Executor, "_local_pool", lambda self: calls.append("pool"))
    executor = sweep.Executor(workers=1, dask=dask, timeout=1.0)
    if dask is None:
        executor.__enter__()
        assert calls == ["compile", "pool"]
    else:
        with pytest.raises(sweep.ExecutorError):
            executor.__enter__()
        assert calls == []


@pytest.mark.parametrize("setting, asked", [(None, False), ("1", True)])
def test_the_model_turns_numpys_huge_pages_off_unless_the_user_said(setting, asked):
    """Huge pages made a city-year's first run twice as slow here (model.small_pages); a user who
    sets NUMPY_MADVISE_HUGEPAGE keeps numpy's own choice."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if setting is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = setting
    probe = ("import gridsim.model, numpy; core = getattr(numpy, '_core', None) or numpy.core; "
             "print(core.multiarray._set_madvise_hugepage(True))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(asked)
