"""docs/API.md: every example runs as written, top to bottom, as in a notebook."""

import re

from ..conftest import ROOT

DOC = ROOT / "docs" / "API.md"


def test_api_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "api_docs"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC}:block{i + 1}", "exec"), namespace)
    assert (tmp_path / "results" / "servers" / "_manifest.json").is_file()
    assert len(namespace["done"].runs) == 8 and namespace["five"]["ci_high"] < 0
