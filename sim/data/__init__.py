"""The data that ships inside the package: scenarios, experiment specs, back-test references.

In the source tree they live in the top-level folders `scenarios/`,
`experiments/` and `results/reference/`; pyproject.toml maps those folders to
the packages `gridsim.data.scenarios`, `gridsim.data.experiments` and
`gridsim.data.reference`, so a wheel carries them inside `gridsim/` and an
editable install reads them where they are. Either way `folder()` finds them
through importlib.resources, never through a path relative to this file.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

Kind = Literal["scenarios", "experiments", "reference"]


def folder(kind: Kind) -> Path:
    """The folder of bundled `kind` files (a real directory: pip installs unpack wheels)."""
    return Path(str(files(f"{__name__}.{kind}")))
