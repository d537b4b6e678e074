"""The static hindsight rules, one by one (what is flagged and what is left alone)."""

from __future__ import annotations

import ast

import pytest

from auraquant.cta.tools import hindsight
from auraquant.cta.tools.codeguard import check_source


def _msgs(src: str) -> list[str]:
    return [m for _line, m in hindsight.scan(ast.parse(src))]


@pytest.mark.parametrize("text", ["2021-11-10", "2021/11/10", "10.11.2021", "20211110", "Nov 10, 2021",
                                  "10 November 2021", "close at 14:00 UTC", "2021-11"])
def test_date_and_time_strings_are_flagged(text: str) -> None:
    assert hindsight.has_date(text)
    assert any("date/time literal" in m for m in _msgs(f"x = {text!r}\n"))


@pytest.mark.parametrize("text", ["%Y-%m-%d", "1D", "close", "period 20", "v1.2.3", "12:5"])
def test_ordinary_strings_are_not_dates(text: str) -> None:
    assert not hindsight.has_date(text)


def test_epoch_values() -> None:
    assert hindsight.looks_like_epoch(1636502400)          # seconds, 2021-11-10
    assert hindsight.looks_like_epoch(1636502400000)       # milliseconds
    assert hindsight.looks_like_epoch(1636502400000000000)  # nanoseconds
    assert not hindsight.looks_like_epoch(1_000_000_000)   # round: a bound, not a time
    assert not hindsight.looks_like_epoch(123_456)          # before 2000 in every unit
    assert _msgs("t = 1636502400000\n") and not _msgs("t = 2_000_000_000\n")


def test_round_numbers() -> None:
    assert all(hindsight.is_round(x) for x in (0.5, 20, 250, 10_000, 1e-6, 0.05, 1.5e9))
    assert not any(hindsight.is_round(x) for x in (43567.2, 0.0654, 3.14159, 123))


def test_tables() -> None:
    assert any("literal table" in m for m in _msgs("x = [1, 0, 0, 1, 1, 0, 1, 0]\n"))
    assert any("literal table" in m for m in _msgs("x = {'a': 1, 'b': 2, 'c': 3, 'd': 4}\n"))
    assert not _msgs("x = [1, 0, 0, 1, 1, 0, 1]\n")  # below the table size
    assert any("table of numbers" in m for m in _msgs("x = '1 2 3 4 5 6 7 8'\n"))


def test_price_like_numbers_counted_across_the_module() -> None:
    five = "a = 4356.2\nb = 2901.7\nc = 1234.5\nd = 987.65\ne = 612.33\n"
    assert not _msgs(five)
    assert any("price-like" in m for m in _msgs(five + "f = 7777.7\n"))


def test_docstrings_and_param_declarations_are_ignored() -> None:
    src = '''"""Written 2024-01-01; 43567.2, 1234.5, 987.65, 612.33, 2901.7, 7777.7 in prose."""
from auraquant.cta.strategy.protocols import Param

P = {"a": Param(123.45, "float", 1.234, 9876.5, "x"), "b": Param(3.14159, "float", 0.123, 45.67, "y"),
     "c": Param(2.71828, "float", 1.41421, 99.99, "z")}
'''
    assert not _msgs(src)


def test_codeguard_reports_hindsight_with_lines() -> None:
    src = "import numpy as np\n\nTOP = '2021-11-10'\n"
    report = check_source(src, "baselines", "tops")
    assert not report.ok
    assert [(v.line, v.rule) for v in report.violations] == [(3, "hindsight")]
