"""`--source DIR` for a remote server: what the .tar.gz holds (git's view of DIR), links,
and the size limit."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import pytest

from assay.client.source import DEFAULT_LIMIT, pack_source, source_limit
from assay.errors import DefinitionError
from support import commit_all, git, write_files


def members(archive: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive, "r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def content(archive: Path, name: str) -> str:
    with tarfile.open(archive, "r:gz") as tar:
        extracted = tar.extractfile(name)
        assert extracted is not None
        return extracted.read().decode()


def test_a_git_checkout_honours_gitignore(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_files(
        repo,
        {
            ".gitignore": "build/\n*.log\n",
            "src/app.py": "print('hi')\n",
            "tests/test_app.py": "def test(): pass\n",
        },
    )
    commit_all(repo, "initial")
    write_files(
        repo,
        {"untracked.txt": "new\n", "debug.log": "noise\n", "build/out.bin": "x" * 100},
    )
    (repo / "tests" / "test_app.py").write_text("def test(): assert True\n")  # modified
    (repo / "src" / "app.py").unlink()  # deleted in the work tree
    archive = pack_source(repo, DEFAULT_LIMIT)
    try:
        assert sorted(members(archive)) == [".gitignore", "tests/test_app.py", "untracked.txt"]
        assert content(archive, "tests/test_app.py") == "def test(): assert True\n"
    finally:
        archive.unlink()


def test_a_subdirectory_of_a_checkout_holds_its_own_files_only(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_files(repo, {".gitignore": "*.tmp\n", "a/x.py": "x\n", "a/y.tmp": "y\n", "b/z.py": ""})
    commit_all(repo, "initial")
    archive = pack_source(repo / "a", DEFAULT_LIMIT)
    try:
        assert sorted(members(archive)) == ["x.py"]
    finally:
        archive.unlink()


def test_outside_git_everything_but_dot_git(tmp_path: Path) -> None:
    write_files(tmp_path / "dir", {"a.txt": "a", "deep/b.txt": "b", ".git/config": "c"})
    archive = pack_source(tmp_path / "dir", DEFAULT_LIMIT)
    try:
        assert sorted(members(archive)) == ["a.txt", "deep/b.txt"]
    finally:
        archive.unlink()


def test_a_link_inside_is_kept_relative(tmp_path: Path) -> None:
    root = tmp_path / "dir"
    write_files(root, {"data/real.txt": "real"})
    (root / "alias.txt").symlink_to(root / "data" / "real.txt")  # absolute, but inside
    archive = pack_source(root, DEFAULT_LIMIT)
    try:
        link = members(archive)["alias.txt"]
        assert link.issym() and link.linkname == "data/real.txt"
    finally:
        archive.unlink()


def test_a_link_pointing_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not yours")
    root = tmp_path / "dir"
    write_files(root, {"ok.txt": "ok"})
    (root / "leak.txt").symlink_to("../secret.txt")
    before = set(Path(tempfile.gettempdir()).glob("assay-source-*"))
    with pytest.raises(DefinitionError, match=r"leak\.txt is a link to \.\./secret\.txt, outside"):
        pack_source(root, DEFAULT_LIMIT)
    assert set(Path(tempfile.gettempdir()).glob("assay-source-*")) == before  # none left


def test_too_big_names_the_size_and_the_limit(tmp_path: Path) -> None:
    write_files(tmp_path / "dir", {"big.bin": "x" * 3000, "small.txt": "y" * 100})
    with pytest.raises(DefinitionError) as raised:
        pack_source(tmp_path / "dir", 2048)
    message = str(raised.value)
    assert "3.0 KB of files (3100 bytes) exceeds the limit of 2.0 KB" in message
    assert "ASSAY_SOURCE_LIMIT=2048" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", DEFAULT_LIMIT),
        ("500000", 500_000),
        ("20M", 20 << 20),
        ("1g", 1 << 30),
        ("64KB", 64 << 10),
    ],
)
def test_source_limit_values(value: str, expected: int) -> None:
    assert source_limit({"ASSAY_SOURCE_LIMIT": value}) == expected


def test_a_bad_source_limit_is_bad_input() -> None:
    with pytest.raises(DefinitionError, match="ASSAY_SOURCE_LIMIT='lots'"):
        source_limit({"ASSAY_SOURCE_LIMIT": "lots"})
