"""docs/RELIABILITY.md names, beside each promise, the test that checks it: every test it names exists."""

import re

from ..conftest import ROOT


def test_every_test_the_reliability_page_names_exists():
    text = (ROOT / "docs" / "RELIABILITY.md").read_text()
    named, file = [], None
    for m in re.finditer(r"`(?:((?:unit|functional|validation|backtest)/test_\w+\.py))?::(test_\w+)`", text):
        file = m.group(1) or file                      # `::name` continues the file named before it
        named.append((file, m.group(2).removesuffix("_")))
    assert len(named) > 60
    missing = [f"{f}::{name}" for f, name in named
               if not re.search(rf"^def {name}\w*\(", (ROOT / "tests" / f).read_text(), re.M)]
    assert not missing, missing
