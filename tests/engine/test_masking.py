"""The masker on its own: what counts as a secret, lines of multi-line ones, overlaps."""

from __future__ import annotations

import threading

from assay.engine.masking import MASK, Masker
from assay.model import CaseStatus, TestCaseResult


def test_nothing_registered_leaves_text_alone() -> None:
    assert Masker()("a line with nothing secret") == "a line with nothing secret"


def test_values_shorter_than_three_characters_are_not_secrets() -> None:
    masker = Masker()
    for value in (None, "", "a", "ab"):
        masker.add(value)
    assert masker("a b ab abc") == "a b ab abc"
    masker.add("abc")  # three characters: masked
    assert masker("a b ab abc") == f"a b ab {MASK}"


def test_multi_line_secret_is_masked_whole_and_line_by_line() -> None:
    masker = Masker()
    masker.add("first-line\nxy\nthird-line\r\nend")
    assert masker("k=first-line\nxy\nthird-line\r\nend;") == f"k={MASK};"
    # lines are logged one at a time; a line of under three characters stays (too common)
    assert [masker(line) for line in ("first-line", "xy", "third-line", "end")] == [
        MASK,
        "xy",
        MASK,
        MASK,
    ]
    assert masker("E     third-line") == f"E     {MASK}"


def test_the_longer_of_two_overlapping_secrets_wins_whatever_the_order() -> None:
    for order in (("token", "token-extended"), ("token-extended", "token")):
        masker = Masker()
        for value in order:
            masker.add(value)
        assert masker("a token-extended b token c") == f"a {MASK} b {MASK} c"


def test_secrets_are_matched_literally() -> None:
    masker = Masker()
    masker.add("p.ss*(x)")
    assert masker("pass(x) p.ss*(x)") == f"pass(x) {MASK}"


def test_secrets_added_from_many_threads_are_all_kept() -> None:
    masker = Masker()
    values = [f"secret-{n:03d}" for n in range(40)]
    threads = [threading.Thread(target=masker.add, args=(value,)) for value in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert masker(" ".join(values)) == " ".join([MASK] * len(values))


def test_overlapping_fragments_around_ellipses_are_masked_as_one() -> None:
    masker = Masker()
    masker.add("cdefg-XX-abcde")
    # a head before the first "...", then a tail and a head overlapping between two more
    assert masker("cdefg...sep...abcdefg...end") == f"{MASK}...sep...{MASK}...end"
    masker = Masker()
    masker.add("abcd-xabcd...efgh")
    # a tail running over the next "...", whose head fragment lies inside it
    assert masker("...xabcd...efgh!") == f"...{MASK}!"
    masker = Masker()
    masker.add("defgh-XX-abcde")
    assert masker("defgh...sep...abcdefgh...end") == f"{MASK}...sep...{MASK}...end"
    masker = Masker()
    masker.add("abcd-xabcd...efgh")
    assert masker("abcd...xabcd...efgh!") == f"{MASK}...{MASK}!"
    masker = Masker()
    masker.add("wxyz-abcd")
    # a tail and a head that touch: one mask, not two
    assert masker("...abcdwxyz...") == f"...{MASK}..."


def test_a_case_report_is_masked_in_its_message_trace_and_properties() -> None:
    masker = Masker()
    masker.add("hunter22")
    case = TestCaseResult(
        "suite",
        "cls",
        "test_login",
        CaseStatus.FAILED,
        message="bad password hunter22",
        trace="assert 'hunter22' == ''",
        properties={"token=hunter22": ["hunter22", "plain"], "plain": ["x"]},
    )
    masker.mask_case(case)
    assert case.message == f"bad password {MASK}"
    assert case.trace == f"assert '{MASK}' == ''"
    assert case.properties == {f"token={MASK}": [MASK, "plain"], "plain": ["x"]}
    empty = TestCaseResult("suite", "cls", "test_ok", CaseStatus.PASSED)
    masker.mask_case(empty)  # nothing to mask: left as it is
    assert (empty.message, empty.trace, empty.properties) == (None, None, {})


def test_a_secret_is_masked_as_xml_escapes_it_in_text_and_in_attributes() -> None:
    """XML text escapes ``<`` but leaves quotes; an attribute escapes ``"`` but not ``'``."""
    masker = Masker()
    masker.add("p<w\"o'rd")
    assert masker("text: p&lt;w\"o'rd.") == f"text: {MASK}."
    assert masker("attr: p&lt;w&quot;o'rd.") == f"attr: {MASK}."
