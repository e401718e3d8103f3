"""Cached list answers: kept while the store is unchanged (ETag, 304), computed afresh
after a commit by another process; the cache itself."""

from __future__ import annotations

import json

from assay.server.listcache import Answer, ListCache
from server_support import ApiServer

QUIET = """\
apiVersion: testworkflows.testkube.io/v1
kind: TestWorkflow
metadata: {name: cached}
spec:
  steps:
  - name: s
    shell: echo cached
"""
LIST = "/v1/test-workflow-executions"


def test_list_is_cached_until_another_process_commits(api: ApiServer) -> None:
    (api.home.parent / "cached.yaml").write_text(QUIET)
    api.cli("run", "-f", "cached.yaml")
    with api.client("read") as client:
        first = client.get(LIST, params={"workflow": "cached"})
        assert first.status_code == 200, first.text
        etag = first.headers["etag"]
        assert [item["name"] for item in first.json()["results"]] == ["cached-1"]
        again = client.get(LIST, params={"workflow": "cached"})
        assert again.content == first.content and again.headers["etag"] == etag
        unchanged = client.get(LIST, params={"workflow": "cached"}, headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["etag"] == etag
        other = client.get(LIST, params={"workflow": "cached", "pageSize": 1})
        assert other.status_code == 200 and other.headers["etag"] != etag  # another list

        api.cli("run", "-f", "cached.yaml")  # another process commits to the store
        changed = client.get(LIST, params={"workflow": "cached"}, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        names = [item["name"] for item in changed.json()["results"]]
        assert names == ["cached-2", "cached-1"]
        assert json.loads(changed.content)["results"][0]["status"] == "passed"


def test_a_revoked_token_is_refused_even_for_a_cached_list(api: ApiServer) -> None:
    secret = api.token("cache-revoked", "read")
    with api.client(token=secret) as client:
        assert client.get(LIST).status_code == 200
        api.cli("token", "revoke", "cache-revoked")
        assert client.get(LIST).status_code == 401


def test_cache_keeps_answers_of_one_revision() -> None:
    revision = ["r1"]
    computed: list[str] = []

    def compute(text: str) -> bytes:
        computed.append(text)
        return text.encode()

    cache = ListCache(lambda: revision[0], size=2)
    first = cache.answer("a", lambda: compute("a1"))
    assert cache.answer("a", lambda: compute("a2")) == first and computed == ["a1"]
    cache.answer("b", lambda: compute("b1"))
    cache.answer("c", lambda: compute("c1"))  # over size: "a", the least recently used, goes
    assert cache.answer("a", lambda: compute("a3")).body == b"a3"
    revision[0] = "r2"
    assert cache.answer("c", lambda: compute("c2")).body == b"c2"
    assert computed == ["a1", "b1", "c1", "a3", "c2"]


def test_cache_keeps_at_most_max_bytes_of_bodies() -> None:
    cache = ListCache(lambda: "r1", max_bytes=10)
    cache.answer("a", lambda: b"aaaaaa")
    cache.answer("b", lambda: b"bbbbbb")  # 12 bytes: "a" goes
    assert cache.answer("b", lambda: b"new").body == b"bbbbbb"
    assert cache.answer("a", lambda: b"again").body == b"again"
    cache.answer("big", lambda: b"x" * 11)  # larger than the budget: not kept, nor the rest
    assert cache.answer("big", lambda: b"fresh").body == b"fresh"


def test_no_revision_caches_nothing() -> None:
    cache = ListCache(lambda: None)
    assert cache.answer("a", lambda: b"1").body == b"1"
    assert cache.answer("a", lambda: b"2").body == b"2"


def test_if_none_match() -> None:
    answer = Answer.of(b"{}")
    assert answer.etag.startswith('"') and answer != Answer.of(b"[]")
    assert answer.matches(answer.etag) and answer.matches(f'"x", W/{answer.etag}')
    assert answer.matches("*")
    assert not answer.matches(None) and not answer.matches('"other"')
