"""The stand-in's schema check is real: GitHub's schemas reject what GitHub would."""

from __future__ import annotations

import yaml
from github_standin import FRAGMENT, GitHubStandIn

GOOD = {
    "name": "assay",
    "head_sha": "a" * 40,
    "status": "completed",
    "conclusion": "failure",
    "output": {
        "title": "t",
        "summary": "s",
        "annotations": [
            {
                "path": "a.py",
                "start_line": 1,
                "end_line": 1,
                "annotation_level": "failure",
                "message": "m",
            }
        ],
    },
}


def check(body: object, path: str = "/repos/{owner}/{repo}/check-runs") -> list[str]:
    stand_in = GitHubStandIn()
    stand_in._validate("POST", path, body)
    return stand_in.schema_errors


def test_the_fragment_names_its_source() -> None:
    spec = yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))
    assert spec["x-source"]["repository"] == "github/rest-api-description"
    assert len(spec["x-source"]["commit"]) == 40
    assert sorted(spec["paths"]) == [
        "/repos/{owner}/{repo}/check-runs",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    ]


def test_bodies_github_would_refuse_are_caught() -> None:
    assert check(GOOD) == []
    annotation = GOOD["output"]["annotations"][0]  # type: ignore[index]
    too_many = {**GOOD, "output": {**GOOD["output"], "annotations": [annotation] * 51}}  # type: ignore[dict-item]
    assert any("too long" in e for e in check(too_many))
    no_conclusion = {k: v for k, v in GOOD.items() if k != "conclusion"}
    assert check(no_conclusion)  # completed needs a conclusion
    typo = {**GOOD, "conclusoin": "failure"}
    assert check(typo)  # strict: no property the schema does not define
    big = {**GOOD, "output": {"title": "t", "summary": "x" * 65536}}
    assert check(big)
    comment = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    assert check({"body": "hi"}, comment) == [] and check({"text": "hi"}, comment)
