"""Masked forms of a secret, and artifact globs judged inside the workspace."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import quote, quote_plus

from assay.engine.artifacts import ArtifactFinder
from assay.engine.masking import Masker
from support import write_files

SECRET = 'S3cr3t "Value"/x&y+42'


def test_every_form_of_a_secret_is_masked() -> None:
    masker = Masker()
    masker.add(SECRET)
    raw = SECRET.encode()
    for form in (
        SECRET,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        "S3cr3t &quot;Value&quot;/x&amp;y+42",
        'S3cr3t \\"Value\\"/x&y+42',
    ):
        assert masker(f"<{form}>") == "<***>", form
    assert masker("assert 'S3cr3t \"V...' == 'x'") == "assert '***...' == 'x'"
    assert masker("'S3cr...y+42'") == "'***...***'"
    assert masker("S3c... and loading...done") == "S3c... and loading...done"


def test_globs_match_inside_and_refuse_links_out(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    write_files(root, {"a/r.xml": "", "a/b/s.xml": "", "a/.hidden/t.xml": "", "a/n.txt": ""})
    write_files(outside, {"secret.xml": ""})
    os.symlink(outside, root / "a" / "out")
    os.symlink(root / "a" / "b", root / "a" / "loop")  # inside: followed
    finder = ArtifactFinder([root])
    found = finder.find(root / "a" / "**" / "*.xml", root, "a/**/*.xml")
    assert sorted(str(f.name) for f in found) == ["a/b/s.xml", "a/loop/s.xml", "a/r.xml"]
    assert finder.refused == [f"a/**/*.xml: {root}/a/out links to {outside}, outside the workspace"]
    assert [str(f.name) for f in finder.find(root / "a" / "[rx].xml", root, "")] == ["a/r.xml"]
    assert finder.find(root / "a" / "*" / ".." / ".." / "x", root, "up") == []
    assert finder.refused[-1] == "up: `..` after a wildcard"
