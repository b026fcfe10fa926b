"""numba's disk cache of the model's kernels, stale whenever the code they are made from changes.

numba keeps a kernel's cache while the kernel's own file is unchanged. But a kernel is made from
more than its file: the journey inlines the calendar's heap (calendar.py), and numba bakes in the
module constants a kernel reads (a role's index from the scenario's ROLES, the routes' channels).
Edit one of those files alone, or check out a commit that changed only them, and the next run
would load the old kernels and run the old code, silently. So every kernel in the model's folder
is cached with one stamp, a digest of every file of the model and of the scenario: any change to
either compiles them all again on the next run (about 45 s, as a machine's first run).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

HERE = Path(__file__).resolve().parent
SOURCES = (HERE, HERE.parent / "scenario")


@functools.cache
def digest(folders: tuple[Path, ...]) -> bytes:
    """One hash of every Python file in `folders` (names and contents)."""
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.digest()


def stamped_by(kernels: Path, sources: tuple[Path, ...]) -> None:
    """The kernels defined in folder `kernels` are cached as numba caches them, but stale when any
    file in `sources` changes (each of numba's ways of locating a cache, in its order, made so)."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl     # (numba < 0.62: private)

    def whole(locator: type) -> type:
        class Locator(locator):
            @classmethod
            def from_function(cls, py_func, py_file):
                if Path(py_file).resolve().parent != kernels:
                    return None
                return super().from_function(py_func, py_file)

            def get_source_stamp(self):
                return digest(sources)

        Locator.__name__ = Locator.__qualname__ = f"Stamped{locator.__name__}"
        Locator.stamped = (kernels, sources)
        return Locator

    mine = [c for c in impl._locator_classes if getattr(c, "stamped", None) == (kernels, sources)]
    if not mine:
        impl._locator_classes = [*map(whole, impl._locator_classes), *impl._locator_classes]
