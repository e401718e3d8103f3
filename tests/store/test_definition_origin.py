"""Definitions by origin: a removal that names the source removes only a definition still
stored from it; the definitions of a source prefix are found with LIKE's wildcards escaped."""

from __future__ import annotations

from typing import Any

from assay.store import Database, DefinitionStore


def _doc(name: str) -> dict[str, Any]:
    return {"apiVersion": "tests.testkube.io/v3", "kind": "Test", "metadata": {"name": name}}


def test_delete_from_and_sources_honour_the_origin(any_db: Database) -> None:
    store = DefinitionStore(any_db)
    origin = "kubernetes://ns_1/tests/"
    store.save(
        [
            ("Test", "a", _doc("a"), origin + "a"),
            ("Test", "b", _doc("b"), "body"),
            ("Test", "c", _doc("c"), "kubernetes://nsx1/tests/c"),  # `_` is no wildcard
            ("TestSuite", "a", _doc("a"), origin + "a"),
        ]
    )
    assert store.sources("Test", origin) == {"a": (origin + "a", _doc("a"))}
    assert not store.delete_from("Test", "b", origin + "b")  # applied through the API
    assert not store.delete_from("Test", "a", origin + "other")
    assert store.delete_from("Test", "a", origin + "a")
    assert {row.name for row in store.all("Test")} == {"b", "c"}
    assert [row.kind for row in store.all("TestSuite")] == ["TestSuite"]
