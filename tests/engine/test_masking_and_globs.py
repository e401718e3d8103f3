"""Masked forms of a secret, and artifact globs judged inside the workspace."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from assay.engine import artifacts
from assay.engine.artifacts import ArtifactFinder, store_masked
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
    assert masker("ends ...+42, starts S3c...") == "ends ...+42, starts S3c..."  # 3: too short
    assert masker("a longer prefix: S3cr...") == "a longer prefix: ***..."
    assert masker("..." + SECRET[1:]) == "...***"  # all but the first character
    assert masker(SECRET[:-1] + "...") == "***..."  # all but the last


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


def test_hidden_names_match_only_a_segment_that_starts_with_a_dot(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_files(root, {"a/.h.xml": "", "a/v.xml": "", "a/.hidden/t.xml": ""})
    finder = ArtifactFinder([root])

    def names(pattern: str) -> list[str]:
        return sorted(str(f.name) for f in finder.find(root / pattern, root, pattern))

    assert names("a/*.xml") == ["a/v.xml"]
    assert names("a/.*.xml") == ["a/.h.xml"]
    assert names("a/.hidden/*.xml") == ["a/.hidden/t.xml"]
    assert finder.refused == []
    os.symlink(tmp_path, root / "a" / ".hidden" / "out")  # never reached by a/*.xml
    assert names("a/*.xml") == ["a/v.xml"]
    assert names("*/*.xml") == ["a/v.xml"]
    assert finder.refused == []
    # a literal path: named relative to the base when under it, else by its own name
    assert names("a/.hidden/t.xml") == ["a/.hidden/t.xml"]
    assert [str(f.name) for f in finder.find(root / "a/v.xml", tmp_path / "other", "")] == ["v.xml"]
    assert names("a/.hidden") == []  # a directory is not a file


def test_character_classes_long_segments_and_link_cycles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    write_files(root, {"a/r.xml": "", "a/v.xml": "", "a/x.xml": "", "b/xx.txt": "", "b/xa.txt": ""})
    os.symlink(root, root / "a" / "up")  # cycles: each directory walked once, never again
    (root / "a" / "c").mkdir()
    os.symlink(root / "a", root / "a" / "c" / "back")
    finder = ArtifactFinder([root])

    def names(pattern: str) -> list[str]:
        return sorted(str(f.name) for f in finder.find(root / pattern, root, pattern))

    assert names("a/[!rx].xml") == ["a/v.xml"]
    assert names("b/x[ab].txt") == ["b/xa.txt"]
    assert names("b/" + "?" * 300) == []  # longer than any name: matches none
    assert names("**/v.xml") == ["a/v.xml"]
    real_scandir = os.scandir

    def unreadable_b(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "b":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", unreadable_b)  # as root, chmod 000 would not do
    assert names("**/*.txt") == []  # an unreadable directory is passed over
    assert names("**/r.xml") == ["a/r.xml"]
    assert finder.refused == []


def test_stored_artifacts_are_private_masked_text_or_bytes_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report.txt"
    report.write_text("x" * 4096 + "pw=hunter\n")
    store_masked(report, tmp_path / "stored.txt", _mask_hunter)
    assert (tmp_path / "stored.txt").read_text() == "x" * 4096 + "pw=***\n"
    report.write_text("short\n")
    store_masked(report, tmp_path / "stored.txt", _mask_hunter)  # stored again: replaced
    assert (tmp_path / "stored.txt").read_text() == "short\n"
    monkeypatch.setattr(artifacts, "_TEXT_LIMIT", 10)  # the 64 MiB limit, made small
    files = {"fits.txt": "pw=hunter2", "big.txt": "pw=hunter22", "nul.bin": "pw=\0hunter"}
    write_files(tmp_path / "in", files)
    (tmp_path / "in" / "latin1.txt").write_bytes(b"pw=\xffhunter")
    for name in (*files, "latin1.txt"):
        store_masked(tmp_path / "in" / name, tmp_path / "out" / "d" / name, _mask_hunter)
    stored = {p.name: p.read_bytes() for p in (tmp_path / "out" / "d").iterdir()}
    assert stored == {
        "fits.txt": b"pw=***2",
        "big.txt": b"pw=hunter22",
        "nul.bin": b"pw=\0hunter",
        "latin1.txt": b"pw=\xffhunter",
    }
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").rglob("*")} == {
        0o700,
        0o600,
    }
    (tmp_path / "in" / "link.txt").symlink_to(tmp_path / "in" / "fits.txt")
    with pytest.raises(OSError):  # never read through a link
        store_masked(tmp_path / "in" / "link.txt", tmp_path / "out" / "link.txt", _mask_hunter)


def _mask_hunter(text: str) -> str:
    return text.replace("hunter", "***")
