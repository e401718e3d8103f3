"""YAML examples in the docs validate as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.spec.loader import load_text

DOCS = Path(__file__).resolve().parents[2] / "docs"


def yaml_blocks() -> list[tuple[str, str]]:
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        for index, block in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
            if "kind:" in block:
                found.append((f"{doc.name}#{index}", block))
    return found


@pytest.mark.parametrize(("where", "block"), yaml_blocks(), ids=[w for w, _ in yaml_blocks()])
def test_doc_example_validates(where: str, block: str) -> None:
    assert load_text(block, source=where), where
