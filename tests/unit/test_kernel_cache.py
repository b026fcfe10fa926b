"""A compiled kernel's disk cache goes stale with any file it is made from, not only its own
(`kernel_cache.py`): numba bakes in the constants a kernel reads from other modules, and keeps
its cache while the kernel's own file is unchanged."""

import subprocess
import sys
import textwrap

import pytest

KERNEL = """
    import sys
    from pathlib import Path

    from numba import njit

    here = Path(__file__).resolve().parent
    if sys.argv[1] == "stamped":
        from gridsim.model.kernel_cache import stamped_by
        stamped_by(here, (here,))
    from helper import LIMIT


    @njit(cache=True)
    def limit():
        return LIMIT


    print(limit())
"""


def _twice(folder, how: str) -> list[str]:
    """The kernel's answer, then its answer in a new process after only the other file changed."""
    folder.mkdir()
    (folder / "kernel.py").write_text(textwrap.dedent(KERNEL))
    out = []
    for value in (2, 3):
        (folder / "helper.py").write_text(f"LIMIT = {value}\n")
        run = subprocess.run([sys.executable, "kernel.py", how], cwd=folder, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        out.append(run.stdout.strip())
    return out


@pytest.mark.parametrize("how, seen", [("stamped", ["2", "3"]),
                                       ("numba's own", ["2", "2"])])    # the stale kernel it guards against
def test_a_change_to_a_file_a_kernel_reads_compiles_it_again(tmp_path, how, seen):
    assert _twice(tmp_path / "kernels", how) == seen


def test_the_models_kernels_are_cached_with_the_stamp_of_the_model_and_the_scenario():
    from gridsim.model import journey, kernel_cache, metrics
    for kernel in (journey.advance, metrics.request_outcomes):
        locator = kernel._cache._impl.locator
        assert type(locator).stamped == (kernel_cache.HERE, kernel_cache.SOURCES)
        assert locator.get_source_stamp() == kernel_cache.digest(kernel_cache.SOURCES)
