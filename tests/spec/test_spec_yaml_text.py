"""YAML printed for people: literal blocks for multi-line strings, and the same data back."""

from __future__ import annotations

import yaml

from assay.spec.yaml_text import dump_documents, dump_yaml

DATA = {
    "script": "set -e\npytest -q\n",
    "no_final_newline": "one\ntwo",
    "trailing_space": "bad \nline",
    "leading_indent": "  indented\nnext\n",
    "long": "x " * 100,
    "unicode": "héllo\n",
    "nested": [{"args": ["a\nb", "plain"]}],
}


def test_multi_line_strings_are_literal_blocks_and_load_back_the_same() -> None:
    text = dump_yaml(DATA)
    assert yaml.safe_load(text) == DATA
    assert "script: |\n  set -e\n  pytest -q\n" in text
    assert "unicode: |\n  héllo\n" in text
    assert '"bad \\nline"' in text  # a block cannot keep a trailing space: quoted instead
    assert len(max(text.splitlines(), key=len)) > 200  # long lines are not folded


def test_documents_are_separated_and_load_back_the_same() -> None:
    objects = [{"kind": "ConfigMap", "data": {"f.py": "a = 1\nb = 2\n"}}, {"kind": "Job"}]
    text = dump_documents(objects)
    assert text.count("---") == 2
    assert list(yaml.safe_load_all(text)) == objects
    assert "f.py: |\n    a = 1\n    b = 2\n" in text
