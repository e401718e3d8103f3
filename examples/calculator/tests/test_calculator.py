import pytest

from calculator import add, divide


def test_add() -> None:
    assert add(2, 3) == 5


@pytest.mark.parametrize(("a", "b", "expected"), [(6, 3, 2), (1, 4, 0.25)])
def test_divide(a: float, b: float, expected: float) -> None:
    assert divide(a, b) == expected


def test_divide_by_zero() -> None:
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
