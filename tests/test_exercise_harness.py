"""lib.exercises.harness: one convention for every checker."""

import re

import pytest

from lib.exercises.harness import Wrong, checker


@checker
def check_double(f):
    """f(x) must return 2x."""
    for x in (0, 1, -3):
        if f(x) != 2 * x:
            raise Wrong(f"f({x}) should be {2 * x}, got {f(x)}: multiply by 2")


def test_correct_answer_passes(capsys):
    assert check_double(lambda x: 2 * x) is True
    assert capsys.readouterr().out == "✓ check_double: all checks passed\n"


def test_stub_is_reported_not_raised(capsys):
    def stub(x):
        raise NotImplementedError

    assert check_double(stub) is False
    assert "not implemented yet" in capsys.readouterr().out


def test_wrong_answer_gets_its_hint(capsys):
    assert check_double(lambda x: x + 1) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ check_double: f(0) should be 0, got 1") and "multiply by 2" in out


def test_readers_exception_is_shown(capsys):
    assert check_double(lambda x: 1 / 0 if x == 0 else 2 * x) is False
    assert "your code raised ZeroDivisionError" in capsys.readouterr().out


def test_wrapper_keeps_name_and_docstring():
    assert check_double.__name__ == "check_double" and "2x" in check_double.__doc__


def test_a_check_may_return_what_it_shows(capsys):
    @checker
    def check_triple(f):
        if f(1) != 3:
            raise Wrong("f(1) should be 3")
        return "f multiplies by 3"

    assert check_triple(lambda x: 3 * x) is True
    assert capsys.readouterr().out == "✓ check_triple: f multiplies by 3\n"


def test_choices_answer_names_the_first_problem():
    from lib.exercises.harness import Wrong, choices_answer

    assert choices_answer({"a": 1, "b": 2}, ["a", "b"], (1, 2)) == {"a": 1, "b": 2}
    for bad, message in (([1, 2], "return a dict"), ({"a": 1}, "no answer for item(s) ['b']"),
                         ({"a": 1, "b": 3}, "item b: 3 is not one of [1, 2]")):
        with pytest.raises(Wrong, match=re.escape(message)):
            choices_answer(bad, ["a", "b"], (1, 2), what="item")
