from calculator import percent


def test_percent_exact() -> None:
    assert percent(1, 4) == 25


def test_percent_rounds_to_nearest() -> None:
    # 2/3 is 66.67%: users expect 67, the implementation rounds down.
    assert percent(2, 3) == 67
