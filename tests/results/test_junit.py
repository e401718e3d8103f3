"""Tests of the streaming JUnit XML parser (assay.results: junit, target, dialects)."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import support
from assay.errors import HostileXMLError, ResultsError
from assay.model import CaseStatus, Summary, TestCaseResult
from assay.results import junit, target
from assay.results.junit import iter_junit, parse_junit, summarize
from assay.results.target import MAX_MESSAGE_CHARS

DATA = Path(__file__).parent / "data"
CONFORMANCE = support.CONFORMANCE / "junit"


@pytest.fixture(scope="module")
def junit_conformance() -> None:
    """Skips without the conformance material; under CI=true its absence fails."""
    if not CONFORMANCE.is_dir():
        support.skip_unless_ci(f"conformance material not found at {CONFORMANCE}")


needs_conformance = pytest.mark.usefixtures("junit_conformance")


def _write(tmp_path: Path, text: str, name: str = "report.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _by_name(rows: list[TestCaseResult]) -> dict[str, TestCaseResult]:
    return {row.name: row for row in rows}


# --- conformance: EnricoMi/publish-unit-test-result-action -------------------------------

# Files where we knowingly count differently from publish-unit-test-result-action, with the
# counts we produce instead (tests, passed, skipped, failed, errored) and why.
DELIBERATE_DIFFERENCES: dict[str, tuple[tuple[int, int, int, int, int], str]] = {
    "no-cases-but-tests.xml": (
        (0, 0, 0, 0, 0),
        "The file has no <testcase> at all, only suite counters (tests=6 failures=1 "
        "skipped=2). That project falls back to those counters when a file has no cases; "
        "assay reports one row per test case, and there is none to report.",
    ),
}


def _enricomi_files() -> list[Path]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted(
        path
        for path in (CONFORMANCE / "enricomi").rglob("*.xml")
        if path.with_suffix(".results.json").exists() or path.with_suffix(".exception").exists()
    )


def _file_id(path: Path) -> str:
    return str(path.relative_to(CONFORMANCE))


@needs_conformance
def test_conformance_material_is_complete() -> None:
    files = _enricomi_files()
    rejected = [path for path in files if path.with_suffix(".exception").exists()]
    assert len(files) >= 29
    assert {path.name for path in rejected} == {"corrupt-xml.xml", "non-junit.xml"}


@pytest.mark.parametrize("path", _enricomi_files(), ids=_file_id)
def test_enricomi_counts(path: Path) -> None:
    if path.with_suffix(".exception").exists():
        with pytest.raises(ResultsError) as info:
            parse_junit(path)
        assert not isinstance(info.value, HostileXMLError)
        assert str(path) in str(info.value)
        return
    stats = json.loads(path.with_suffix(".results.json").read_text(encoding="utf-8"))["stats"]
    expected = (
        stats["tests"],
        stats["tests_succ"],
        stats["tests_skip"],
        stats["tests_fail"],
        stats["tests_error"],
    )
    summary = summarize(parse_junit(path))
    got = (summary.tests, summary.passed, summary.skipped, summary.failed, summary.errored)
    if path.name in DELIBERATE_DIFFERENCES:
        ours, _why = DELIBERATE_DIFFERENCES[path.name]
        assert got == ours
        assert got != expected  # if they ever agree, the exception is obsolete
    else:
        assert got == expected


@needs_conformance
def test_enricomi_corrupt_file_reports_line() -> None:
    path = CONFORMANCE / "enricomi" / "pytest" / "corrupt-xml.xml"
    with pytest.raises(ResultsError, match=r"line 11\b"):
        parse_junit(path)


@needs_conformance
def test_enricomi_non_junit_names_root() -> None:
    path = CONFORMANCE / "enricomi" / "non-junit.xml"
    with pytest.raises(ResultsError, match=r"not a JUnit XML report.*<suites>"):
        parse_junit(path)


# --- conformance: dorny/test-reporter and testmoapp/junitxml ------------------------------

# NUnit 3 reports (root <test-run>), which dorny/test-reporter reads with a separate NUnit
# parser: they are not JUnit XML, and assay must refuse them rather than report 0 tests.
NOT_JUNIT = {"dotnet-nunit.xml", "nunit-sample.xml"}


def _other_files() -> list[Path]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted(
        [*(CONFORMANCE / "dorny").rglob("*.xml"), *(CONFORMANCE / "testmo").rglob("*.xml")]
    )


def _reference_counts(path: Path) -> Counter[str]:
    """Independent count of testcase elements by their most severe result child."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    counts: Counter[str] = Counter()
    for case in etree.parse(str(path), parser).iter("testcase"):
        tags = {child.tag for child in case}
        if "error" in tags:
            counts["errored"] += 1
        elif "failure" in tags:
            counts["failed"] += 1
        elif "skipped" in tags or case.get("status") == "disabled":
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


@needs_conformance
def test_other_material_is_present() -> None:
    assert len(_other_files()) >= 30


@pytest.mark.parametrize("path", _other_files(), ids=_file_id)
def test_dorny_and_testmo_parse(path: Path) -> None:
    if path.name in NOT_JUNIT:
        with pytest.raises(ResultsError, match=r"not a JUnit XML report.*<test-run>"):
            parse_junit(path)
        return
    rows = parse_junit(path)
    reference = _reference_counts(path)
    # None of these files has Surefire rerun children: one row per <testcase>.
    assert len(rows) == sum(reference.values())
    assert Counter(str(row.status) for row in rows) == reference
    if rows:
        assert summarize(rows).tests > 0
        assert all(row.attempt >= 1 for row in rows)


@needs_conformance
def test_testmo_complete_example_fields() -> None:
    rows = _by_name(parse_junit(CONFORMANCE / "testmo" / "junit-complete.xml"))
    case = rows["testCase5"]
    assert case.suite == "Tests.Registration"
    assert case.classname == "Tests.Registration"
    assert case.status is CaseStatus.FAILED
    assert case.message == "Expected value did not match."
    assert case.file == "tests/registration.code"
    assert case.line == 202
    assert case.duration_ms == 2902
    props = rows["testCase8"].properties
    assert props["attachment"] == ["screenshots/dashboard.png", "screenshots/users.png"]
    assert props["description"][0].startswith("This text describes the purpose")


@needs_conformance
def test_xml_entities_are_decoded() -> None:
    rows = parse_junit(CONFORMANCE / "enricomi" / "with-xml-entities.xml")
    assert [row.name for row in rows] == [
        'Test with "quotes" in the test name',
        "Test with 'apostrophe' in the test name",
        "Test with & in the test name",
        "Test with < and > in the test name",
    ]
    assert [row.message for row in rows] == [
        'A message with "quotes"',
        "A message with 'apostrophes'",
        "A message with &",
        "A message with < and >",
    ]


# --- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["billion_laughs.xml", "xxe_passwd.xml", "xxe_parameter.xml", "external_dtd.xml"]
)
def test_hostile_fixtures_are_refused(name: str) -> None:
    with pytest.raises(HostileXMLError, match="DTD or entities"):
        parse_junit(DATA / name)


def test_external_entity_content_never_appears(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a", encoding="utf-8")
    report = _write(
        tmp_path,
        f"""<?xml version="1.0"?>
<!DOCTYPE testsuites [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>
<testsuites><testsuite name="s">
  <testcase classname="c" name="t"><failure>&leak;</failure></testcase>
</testsuite></testsuites>""",
    )
    with pytest.raises(HostileXMLError) as info:
        parse_junit(report)
    assert "TOP-SECRET" not in str(info.value)
    # Also when read from a stream, and without ever yielding a row.
    with report.open("rb") as stream:
        rows: list[TestCaseResult] = []
        with pytest.raises(HostileXMLError):
            rows.extend(iter_junit(stream))
    assert rows == []


def test_hostile_utf16_document_is_refused(tmp_path: Path) -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<!DOCTYPE testsuites [<!ENTITY a "aaaaaaaaaa">]>\n'
        '<testsuites><testcase name="&a;"/></testsuites>'
    )
    path = tmp_path / "utf16.xml"
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(HostileXMLError):
        parse_junit(path)


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_hostile_document_without_bom_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, encoding: str
) -> None:
    # The prolog scan alone must see through the encoding (parser callback disabled).
    monkeypatch.setattr(target._Collector, "doctype", lambda self, *args: None)
    text = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
        '<!DOCTYPE testsuites [<!ENTITY a "aaaaaaaaaa">]>'
        '<testsuites><testcase name="&a;"/></testsuites>'
    )
    path = tmp_path / "utf32.xml"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(HostileXMLError):
        parse_junit(path)


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe_passwd.xml", "external_dtd.xml"])
def test_parser_refuses_dtds_the_prolog_scan_missed(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Defence in depth: should the byte-level prolog scan ever be fooled, the parser's
    # doctype callback still refuses the document before anything is resolved.
    monkeypatch.setattr(junit, "_scan_prolog", lambda head, label: False)
    with pytest.raises(HostileXMLError, match="DTD or entities"):
        parse_junit(DATA / name)


def test_bare_doctype_is_harmless_and_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, '<!DOCTYPE testsuites>\n<testsuites><testcase name="ok"/></testsuites>')
    rows = parse_junit(path)
    assert [(row.name, row.status) for row in rows] == [("ok", CaseStatus.PASSED)]


def test_doctype_text_inside_cdata_is_not_mistaken_for_a_dtd(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "<testsuites><testcase name='html'><failure><![CDATA[<!DOCTYPE html [<!ENTITY x 'y'>]>]]>"
        "</failure></testcase></testsuites>",
    )
    (row,) = parse_junit(path)
    assert row.status is CaseStatus.FAILED
    assert row.message == "<!DOCTYPE html [<!ENTITY x 'y'>]>"


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    cases = "".join(f'<testcase classname="c" name="t{i}"/>' for i in range(2000))
    path = _write(tmp_path, f"<testsuites><testsuite name='s'>{cases}</testsuite></testsuites>")
    size = path.stat().st_size
    with pytest.raises(HostileXMLError, match="larger than the limit of 1000 bytes"):
        next(iter_junit(path, max_bytes=1000))
    with path.open("rb") as stream, pytest.raises(HostileXMLError):
        next(iter_junit(stream, max_bytes=size - 1))
    assert len(parse_junit(path, max_bytes=size)) == 2000


class _Unseekable(io.RawIOBase):
    """A pipe-like binary stream: readable, size unknown."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_oversized_unseekable_stream_is_cut_off() -> None:
    cases = "".join(f'<testcase classname="c" name="t{i}"/>' for i in range(5000))
    data = f"<testsuites><testsuite name='s'>{cases}</testsuite></testsuites>".encode()
    assert len(data) > 150_000
    with pytest.raises(HostileXMLError):
        parse_junit(io.BufferedReader(_Unseekable(data)), max_bytes=150_000)
    assert len(parse_junit(io.BufferedReader(_Unseekable(data)), max_bytes=len(data))) == 5000


def test_predefined_entities_and_char_refs_are_fine(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '<testsuites><testsuite name="a &amp; b">'
        '<testcase classname="x&lt;y&gt;" name="&#65;&#x42; &amp;#38; &quot;q&quot;">'
        '<failure message="1 &lt; 2 &amp;&amp; 3">body</failure>'
        "</testcase></testsuite></testsuites>",
    )
    (row,) = parse_junit(path)
    assert row.suite == "a & b"
    assert row.classname == "x<y>"
    assert row.name == 'AB &#38; "q"'
    assert row.message == "1 < 2 && 3"


# --- malformed and foreign input ---------------------------------------------------------


def test_corrupt_xml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "<testsuites>\n<testsuite name='s'>\n<testcase name='a'>\n</testsuites>"
    )
    with pytest.raises(ResultsError) as info:
        parse_junit(path)
    assert str(path) in str(info.value)
    assert "line 4" in str(info.value)


def test_non_junit_root_is_refused_before_any_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "<html><body><testcase name='sneaky'/></body></html>")
    rows: list[TestCaseResult] = []
    with pytest.raises(ResultsError, match=r"report\.xml: not a JUnit XML report.*<html>"):
        rows.extend(iter_junit(path))
    assert rows == []


@pytest.mark.parametrize("content", ["", "   \n", "<?xml version='1.0'?>\n<!-- nothing -->"])
def test_empty_documents_are_refused(tmp_path: Path, content: str) -> None:
    with pytest.raises(ResultsError):
        parse_junit(_write(tmp_path, content))


def test_unreadable_paths_are_results_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"absent\.xml: cannot read"):
        parse_junit(tmp_path / "absent.xml")
    with pytest.raises(ResultsError, match="cannot read"):
        parse_junit(tmp_path)  # a directory


def test_text_stream_is_refused() -> None:
    with pytest.raises(ResultsError, match="binary stream"):
        parse_junit(io.StringIO("<testsuites/>"))  # type: ignore[arg-type]


# --- fields ------------------------------------------------------------------------------


def test_odd_attributes_are_tolerated() -> None:
    rows = _by_name(parse_junit(DATA / "odd_attributes.xml"))
    legacy = rows["uses class attribute"]
    assert legacy.classname == "legacy.ClassAttr"
    assert legacy.suite == "inner"
    assert legacy.duration_ms == 1_234_500  # "1,234.5" seconds, with digit grouping
    assert legacy.line is None  # line="x"
    assert rows["garbage time"].duration_ms == 0
    assert rows["garbage time"].line == 7
    assert rows["no time"].duration_ms == 0
    assert rows["no time"].line is None  # line="-5"
    assert rows["negative time"].duration_ms == 0
    assert rows["negative time"].line is None  # line="99999999999", past 2**31 - 1
    assert rows["not a number"].duration_ms == 0
    assert rows["decimal comma"].duration_ms == 250
    assert rows["plain"].duration_ms == 2001
    assert rows["back in outer"].suite == "outer"
    assert rows["outside any suite"].suite == ""
    assert all(row.status is CaseStatus.PASSED for row in rows.values())


def test_status_from_children_and_status_attribute(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """<testsuite name="s">
  <testcase name="passes"><system-out>hello</system-out></testcase>
  <testcase name="fails"><failure message="m"/></testcase>
  <testcase name="errors"><error/></testcase>
  <testcase name="skips"><skipped message="later"/></testcase>
  <testcase name="disabled" status="disabled"/>
  <testcase name="notrun" status="notrun"/>
  <testcase name="run" status="run"/>
  <testcase name="disabled with output" status="disabled"><system-out>x</system-out></testcase>
  <testcase name="skipped and failed"><skipped/><failure message="f"/></testcase>
  <testcase name="all three"><skipped/><error message="e"/><failure message="f"/></testcase>
</testsuite>""",
    )
    statuses = {row.name: row.status for row in parse_junit(path)}
    assert statuses == {
        "passes": CaseStatus.PASSED,
        "fails": CaseStatus.FAILED,
        "errors": CaseStatus.ERRORED,
        "skips": CaseStatus.SKIPPED,
        "disabled": CaseStatus.SKIPPED,
        "notrun": CaseStatus.SKIPPED,
        "run": CaseStatus.PASSED,
        "disabled with output": CaseStatus.SKIPPED,
        "skipped and failed": CaseStatus.FAILED,
        "all three": CaseStatus.ERRORED,
    }


def test_messages(tmp_path: Path) -> None:
    long_trace = "\n".join(f"frame {i}: " + "x" * 60 for i in range(200))
    path = _write(
        tmp_path,
        f"""<testsuite name="s">
  <testcase name="attr"><failure message="from attribute">ignored text</failure></testcase>
  <testcase name="text"><failure>
      first line
      second line
  </failure></testcase>
  <testcase name="long"><error>{long_trace}</error></testcase>
  <testcase name="empty"><skipped/></testcase>
  <testcase name="cdata"><error><![CDATA[a < b]]> and more</error></testcase>
  <testcase name="nested"><failure>before <detail>inner</detail> after</failure></testcase>
</testsuite>""",
    )
    rows = _by_name(parse_junit(path))
    assert rows["attr"].message == "from attribute"
    assert rows["text"].message == "first line\n      second line"
    message = rows["long"].message
    assert message is not None
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.startswith("frame 0: xxx")
    assert rows["empty"].message is None
    assert rows["cdata"].message == "a < b and more"
    # The element's own text: nested elements (system-out, details...) are left out.
    assert rows["nested"].message == "before  after"


# --- traces -------------------------------------------------------------------------------


def test_pytest_failures_keep_their_text_as_trace() -> None:
    rows = _by_name(parse_junit(DATA / "pytest_failures.xml"))
    own, helper, error, skipped = (
        rows[name] for name in ("test_own", "test_helper", "test_error", "test_skip")
    )
    # the message attribute stays the message; the text is the trace, whole
    assert own.message == "assert 1 == 2"
    assert own.trace == (
        "def test_own():\n        x = 1\n>       assert x == 2\nE       assert 1 == 2\n\n"
        "tests/test_x.py:7: AssertionError"
    )
    assert helper.message == "AssertionError: bad value"
    assert helper.trace is not None
    assert helper.trace.startswith("def test_helper():\n>       check(1)\n\ntests/test_x.py:11: \n")
    assert helper.trace.endswith(
        "E       AssertionError: bad value\n\ntests/helpers.py:3: AssertionError"
    )
    # an error (here in a fixture's setup) has one too
    assert error.status is CaseStatus.ERRORED
    assert error.message == 'failed on setup with "RuntimeError: fixture broke"'
    assert error.trace is not None and error.trace.startswith("@pytest.fixture\n")
    assert error.trace.endswith("tests/test_x.py:16: RuntimeError")
    # a skip has none, though its element has text
    assert skipped.status is CaseStatus.SKIPPED and skipped.message == "nope"
    assert skipped.trace is None


def test_traces_of_other_shapes(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """<testsuite name="s">
  <testcase name="passes"><system-out>out</system-out></testcase>
  <testcase name="no attribute"><failure>
      AssertionError: boom
        at line 2
  </failure></testcase>
  <testcase name="no text"><failure message="m"/></testcase>
  <testcase name="blank text"><error message="m">   </error></testcase>
  <testcase name="error wins"><failure message="f">failure text</failure>
    <error message="e">error text</error></testcase>
  <testcase name="failure after error"><error message="e">error text</error>
    <failure message="f">failure text</failure></testcase>
  <testcase name="skip with text"><skipped>skip text</skipped></testcase>
  <testcase name="nested"><failure message="m">before <detail>inner</detail> after</failure>
  </testcase>
</testsuite>""",
    )
    rows = _by_name(parse_junit(path))
    assert rows["passes"].trace is None
    # without the attribute the text is both: the message (its start) and the trace
    assert rows["no attribute"].message == "AssertionError: boom\n        at line 2"
    assert rows["no attribute"].trace == "AssertionError: boom\n        at line 2"
    assert (rows["no text"].message, rows["no text"].trace) == ("m", None)
    assert (rows["blank text"].message, rows["blank text"].trace) == ("m", None)
    # the most severe child decides status, message and trace alike
    assert (rows["error wins"].message, rows["error wins"].trace) == ("e", "error text")
    assert rows["failure after error"].trace == "error text"
    assert rows["skip with text"].message == "skip text"
    assert rows["skip with text"].trace is None
    assert rows["nested"].trace == "before  after"


def test_a_long_trace_keeps_its_end(tmp_path: Path) -> None:
    frames = "".join(
        f"tests/test_deep.py:{i}: in level_{i}\n    level_{i + 1}()\n" for i in range(400)
    )
    end = "E   RecursionError: maximum recursion depth\n\ntests/test_deep.py:999: RecursionError"
    text = frames + end
    single = "x" * 9000 + " the end"
    short_lines = "a" * 6000 + "\n" + "b" * 3000 + "\nend"  # the cut is near a line break
    long_line = "a" * 3000 + "\n" + "b" * 5000 + "\nend"  # it is not
    path = _write(
        tmp_path,
        f"""<testsuite name="s">
  <testcase name="deep"><failure message="RecursionError">{text}</failure></testcase>
  <testcase name="one line"><error>{single}</error></testcase>
  <testcase name="short lines"><error message="m">{short_lines}</error></testcase>
  <testcase name="long line"><error message="m">{long_line}</error></testcase>
  <testcase name="just fits"><failure message="m">{"y" * target.MAX_TRACE_CHARS}</failure>
  </testcase>
</testsuite>""",
    )
    rows = _by_name(parse_junit(path))
    deep = rows["deep"]
    assert deep.message == "RecursionError"
    trace = deep.trace
    assert trace is not None and len(text) > 2 * target.MAX_TRACE_CHARS
    assert len(trace) <= target.MAX_TRACE_CHARS
    assert len(trace) > target.MAX_TRACE_CHARS - 100  # about as much as allowed is kept
    note, kept = trace.split("\n", 1)
    # the note says how much is missing; what is kept is the end, from a line's start
    assert note == f"[… {len(text) - len(kept)} earlier characters cut]"
    assert text.endswith(kept) and text[len(text) - len(kept) - 1] == "\n"
    assert kept.startswith("tests/test_deep.py:") or kept.startswith("    level_")
    assert kept.endswith(end)
    # a text without line breaks is cut where it must be
    one_line = rows["one line"]
    assert one_line.message == single[:MAX_MESSAGE_CHARS]  # the start, as before
    assert one_line.trace is not None and one_line.trace.endswith("x the end")
    note, kept = one_line.trace.split("\n", 1)
    assert note == f"[… {len(single) - len(kept)} earlier characters cut]"
    assert len(one_line.trace) <= target.MAX_TRACE_CHARS
    # the end from a line break, unless that leaves out too much: then the line is cut
    trace = rows["short lines"].trace
    assert trace is not None
    assert trace.split("\n", 1)[1] == "b" * 3000 + "\nend"
    trace = rows["long line"].trace
    assert trace is not None
    note, kept = trace.split("\n", 1)
    assert kept.endswith("b" * 3000 + "\nend") and set(kept[:-4]) == {"b"}
    assert len(trace) <= target.MAX_TRACE_CHARS and len(kept) > target.MAX_TRACE_CHARS - 100
    assert note == f"[… {len(long_line) - len(kept)} earlier characters cut]"
    # at the limit exactly: nothing is cut
    assert rows["just fits"].trace == "y" * target.MAX_TRACE_CHARS


def test_unnamed_test_cases_stay_distinct(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "<testsuites><testsuite><testcase/><testcase><failure/></testcase>"
        '<testcase name=""/></testsuite></testsuites>',
    )
    rows = parse_junit(path)
    assert [row.name for row in rows] == ["(unnamed 1)", "(unnamed 2)", "(unnamed 3)"]
    assert [row.attempt for row in rows] == [1, 1, 1]
    assert summarize(rows) == Summary(tests=3, passed=2, failed=1)


def test_properties() -> None:
    rows = _by_name(parse_junit(DATA / "properties.xml"))
    assert rows["test_login_ok"].properties == {
        "requirement": ["REQ-1", "REQ-2"],
        "owner": ["team-auth"],
        "note": [""],
    }
    assert rows["test_login_ok"].file == "tests/test_login.py"
    assert rows["test_login_ok"].line == 12
    locked = rows["test_login_locked"]
    assert locked.properties == {"requirement": ["REQ-3"]}
    assert locked.status is CaseStatus.SKIPPED
    assert locked.message == "account locking not implemented"


# --- attempts ----------------------------------------------------------------------------


def test_repeated_test_cases_are_attempts() -> None:
    rows = parse_junit(DATA / "repeated_cases.xml")
    seen = [(row.suite, row.name, row.attempt, row.status) for row in rows]
    assert seen == [
        ("retry", "sometimes", 1, CaseStatus.FAILED),
        ("retry", "stable", 1, CaseStatus.PASSED),
        ("retry", "sometimes", 2, CaseStatus.ERRORED),
        ("retry", "sometimes", 3, CaseStatus.PASSED),
        ("retry", "twice", 1, CaseStatus.PASSED),
        ("retry", "always", 1, CaseStatus.FAILED),
        ("retry", "always", 2, CaseStatus.FAILED),
        ("retry", "twice", 2, CaseStatus.PASSED),
        ("other", "sometimes", 1, CaseStatus.PASSED),  # another suite: another test
    ]
    assert summarize(rows) == Summary(tests=5, passed=4, failed=1)


def test_surefire_flaky_and_rerun_children() -> None:
    rows = parse_junit(DATA / "surefire_rerun.xml")
    checkout = [row for row in rows if row.name == "checkout"]
    assert [(row.attempt, row.status) for row in checkout] == [
        (1, CaseStatus.FAILED),
        (2, CaseStatus.ERRORED),
        (3, CaseStatus.PASSED),
    ]
    assert checkout[0].message == "expected 2 but was 1"
    # each rerun keeps its own trace: the <stackTrace>, not the system-out or -err
    assert checkout[0].trace == (
        "java.lang.AssertionError: expected 2 but was 1\n"
        "\tat com.example.ShopTest.checkout(ShopTest.java:12)"
    )
    assert checkout[1].trace == (
        "java.lang.IllegalStateException: cart locked\n\tat com.example.Cart.lock(Cart.java:40)"
    )
    assert checkout[2].trace is None
    # Without a message attribute the <stackTrace> is the message, not the system-err.
    assert checkout[1].message is not None
    assert checkout[1].message.startswith("java.lang.IllegalStateException: cart locked")
    assert "attempt two output" not in checkout[1].message
    assert checkout[1].duration_ms == 250
    assert checkout[2].duration_ms == 500
    assert checkout[2].message is None
    assert all(row.properties == {"requirement": ["REQ-7"]} for row in checkout)
    assert checkout[0].properties is not checkout[2].properties

    refund = [row for row in rows if row.name == "refund"]
    assert [(row.attempt, row.status, row.message) for row in refund] == [
        (1, CaseStatus.FAILED, "refund failed again"),
        (2, CaseStatus.ERRORED, "java.lang.RuntimeException: gateway down"),
        (3, CaseStatus.FAILED, "refund failed"),
    ]
    assert [row.trace for row in refund] == [
        "java.lang.AssertionError: refund failed again",
        "java.lang.RuntimeException: gateway down",
        "java.lang.AssertionError: refund failed",
    ]
    assert all(row.suite == "com.example.ShopTest" for row in rows)
    assert summarize(rows) == Summary(tests=3, passed=2, failed=1)


def test_summarize_uses_the_last_attempt() -> None:
    def row(name: str, status: CaseStatus, attempt: int) -> TestCaseResult:
        return TestCaseResult("s", "c", name, status, attempt=attempt)

    cases = [
        row("a", CaseStatus.FAILED, 1),
        row("a", CaseStatus.PASSED, 2),
        row("b", CaseStatus.PASSED, 2),
        row("b", CaseStatus.FAILED, 1),  # an earlier attempt listed late does not win
        row("c", CaseStatus.SKIPPED, 1),
        row("c", CaseStatus.ERRORED, 1),  # same attempt (e.g. a second file): later wins
    ]
    assert summarize(cases) == Summary(tests=3, passed=2, errored=1)
    assert summarize([]) == Summary()


def test_summary_counts_each_status_in_its_own_column() -> None:
    counts = {"passed": 1, "failed": 2, "errored": 3, "skipped": 4, "quarantined": 5}
    summary = Summary()
    for status, times in counts.items():
        for _ in range(times):
            summary.add(CaseStatus(status))
    summary.add(CaseStatus.PASSED, flaky=True)
    assert summary.as_dict() == {
        **counts,
        "passed": 2,
        "tests": 16,
        "flaky": 1,
    }


# --- streaming ---------------------------------------------------------------------------


def _big_report(count: int) -> bytes:
    cases = "".join(
        f'  <testcase classname="pkg.C{i // 50}" name="test_{i}" time="0.{i % 1000:03d}"/>\n'
        for i in range(count)
    )
    return f'<testsuites>\n<testsuite name="big">\n{cases}</testsuite>\n</testsuites>\n'.encode()


def test_streams_from_a_file_object_lazily() -> None:
    data = _big_report(30_000)
    stream = io.BytesIO(data)
    rows = iter_junit(stream)
    first = next(rows)
    assert (first.name, first.classname, first.suite) == ("test_0", "pkg.C0", "big")
    assert stream.tell() < len(data) // 4  # only the first chunks were read
    rest = list(rows)
    assert len(rest) == 29_999
    assert rest[-1].name == "test_29999"
    assert rest[-1].duration_ms == 999
    assert not stream.closed  # the caller's stream is left open


def test_test_cases_split_across_chunks() -> None:
    trace = "at frame\n" * 20
    cases = "".join(
        f'<testcase classname="c" name="t{i}"><system-out>{trace}</system-out>'
        f"<failure>failure {i}\n{trace}</failure></testcase>\n"
        for i in range(3000)
    )
    data = f"<testsuite name='s'>{cases}</testsuite>".encode()
    assert len(data) > 8 * 64 * 1024  # many read chunks, boundaries inside test cases
    rows = parse_junit(io.BytesIO(data))
    assert [row.name for row in rows] == [f"t{i}" for i in range(3000)]
    assert all(row.status is CaseStatus.FAILED for row in rows)
    assert all(row.message == f"failure {i}\n{trace.strip()}" for i, row in enumerate(rows))


def test_stream_is_read_from_its_current_position() -> None:
    data = b"garbage before the report" + _big_report(3)
    stream = io.BytesIO(data)
    stream.seek(len(b"garbage before the report"))
    assert [row.name for row in iter_junit(stream)] == ["test_0", "test_1", "test_2"]


def test_path_and_stream_give_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(_big_report(2_000))
    with path.open("rb") as stream:
        from_stream = parse_junit(stream)
    assert from_stream == parse_junit(str(path)) == list(iter_junit(path))
    assert len(from_stream) == 2_000


def test_attempts_are_counted_per_suite_and_class(tmp_path: Path) -> None:
    """The same class and test name in two suites are two tests, each on its 1st attempt;
    a repeat inside one suite is the 2nd attempt."""
    path = _write(
        tmp_path,
        """<testsuites>
<testsuite name="a"><testcase classname="C" name="x"/></testsuite>
<testsuite name="b"><testcase classname="C" name="x"/><testcase classname="C" name="x"/>
</testsuite>
<testsuite name="a"><testcase classname="C" name="x"><failure/></testcase></testsuite>
</testsuites>""",
    )
    rows = [
        (row.suite, row.classname, row.name, row.attempt, row.status) for row in parse_junit(path)
    ]
    assert rows == [
        ("a", "C", "x", 1, CaseStatus.PASSED),
        ("b", "C", "x", 1, CaseStatus.PASSED),
        ("b", "C", "x", 2, CaseStatus.PASSED),
        ("a", "C", "x", 2, CaseStatus.FAILED),
    ]


def test_class_attribute_is_read_per_case_and_a_result_child_beats_status(
    tmp_path: Path,
) -> None:
    """Without ``classname``, each case's ``class`` attribute names its class; a result child
    decides over a ``status="skipped"`` attribute (which counts only for a bare case)."""
    path = _write(
        tmp_path,
        """<testsuite name="s">
<testcase class="A" name="x"/>
<testcase class="B" name="y"/>
<testcase name="z"/>
<testcase classname="C" name="failed" status="skipped"><failure message="f"/></testcase>
<testcase classname="C" name="errored" status="notrun"><error message="e"/></testcase>
<testcase classname="C" name="not run" status="notrun"/>
</testsuite>""",
    )
    rows = [(row.classname, row.name, row.status) for row in parse_junit(path)]
    assert rows == [
        ("A", "x", CaseStatus.PASSED),
        ("B", "y", CaseStatus.PASSED),
        ("", "z", CaseStatus.PASSED),
        ("C", "failed", CaseStatus.FAILED),
        ("C", "errored", CaseStatus.ERRORED),
        ("C", "not run", CaseStatus.SKIPPED),
    ]


def test_properties_are_read_from_the_case_and_its_properties_only(tmp_path: Path) -> None:
    """``<property>`` directly in the case or in its ``<properties>`` counts; a named element
    that is not a property, or a property nested deeper (inside a result), does not."""
    path = _write(
        tmp_path,
        """<testsuite name="s"><testcase classname="C" name="t">
<property name="direct" value="1"/>
<properties><property name="listed" value="2"/></properties>
<attachment name="not-a-property" value="3"/><tool name="nor-this" value="5"/>
<failure message="m"><properties><property name="deep" value="4"/></properties></failure>
</testcase></testsuite>""",
    )
    (row,) = parse_junit(path)
    assert row.properties == {"direct": ["1"], "listed": ["2"]}
    assert row.status is CaseStatus.FAILED and row.message == "m"


def test_of_equally_severe_results_the_first_gives_the_message(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """<testsuite name="s"><testcase classname="C" name="t">
<skipped message="skip"/><failure message="first">one</failure>
<failure message="second">two</failure><skipped message="late skip"/>
</testcase></testsuite>""",
    )
    (row,) = parse_junit(path)
    assert (row.status, row.message, row.trace) == (CaseStatus.FAILED, "first", "one")


def test_only_direct_children_are_results_and_only_a_direct_stacktrace_is_trace(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        """<testsuite name="s">
<testcase classname="C" name="nested"><system-err><error message="no result"/></system-err>
</testcase>
<testcase classname="C" name="deep"><failure message="m">top<wrap><stackTrace>deep</stackTrace>
</wrap></failure></testcase>
</testsuite>""",
    )
    nested, deep = parse_junit(path)
    assert (nested.status, nested.message) == (CaseStatus.PASSED, None)
    assert (deep.status, deep.trace) == (CaseStatus.FAILED, "top")
