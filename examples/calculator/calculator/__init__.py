"""A tiny calculator: the system under test of assay's examples."""


def add(a: float, b: float) -> float:
    """Sum of two numbers."""
    return a + b


def divide(a: float, b: float) -> float:
    """Quotient; raises ZeroDivisionError for b == 0."""
    return a / b


def percent(part: float, whole: float) -> int:
    """Integer percentage of part in whole (rounds down: the known bug)."""
    return int(part * 100 // whole)
