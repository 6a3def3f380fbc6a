"""The one exercise harness: every chapter's ``check_xxx(your_function)`` is written with it.

A check is a plain function that calls the reader's code and raises ``Wrong("what is wrong, and a
hint")`` at the first mistake. ``@checker`` turns it into what the reader calls:

- a stub (the reader's function still raises ``NotImplementedError``) → "not implemented yet";
- any other exception from the reader's code → its type and message, shown, not raised;
- ``Wrong`` → "✗ <name>: <message>";
- otherwise "✓ <name>: all checks passed", or "✓ <name>: <what it shows>" when the check
  returns a sentence for the reader.

The checker prints one of these lines and returns True only in the last case, so a notebook cell
never stops at an exercise and a test can assert on the result.
"""

from __future__ import annotations

import functools

__all__ = ["Wrong", "checker", "choices_answer"]


class Wrong(AssertionError):
    """The reader's answer is wrong: the message says where and gives a hint."""


def checker(check):
    """Wrap ``check(your_function, ...)`` (which raises Wrong) into a checker returning a bool."""

    @functools.wraps(check)
    def wrapped(*args, **kwargs) -> bool:
        name = check.__name__
        try:
            passed = check(*args, **kwargs)
        except NotImplementedError:
            print(f"… {name}: not implemented yet — replace `raise NotImplementedError` "
                  "with your code, then run this cell again")
            return False
        except Wrong as wrong:
            print(f"✗ {name}: {wrong}")
            return False
        except Exception as error:  # the reader's code failed: show it, do not raise
            print(f"✗ {name}: your code raised {type(error).__name__}: {error}")
            return False
        print(f"✓ {name}: {passed if isinstance(passed, str) else 'all checks passed'}")
        return True

    return wrapped


def choices_answer(answers, keys, allowed, what="answer") -> dict:
    """Check a multiple-choice answer: a dict with every key of ``keys``, each value one of
    ``allowed``. Returns it; raises Wrong naming the first problem."""
    if not isinstance(answers, dict):
        raise Wrong(f"return a dict {{{what}: choice}}, got {type(answers).__name__}")
    missing = [k for k in keys if k not in answers]
    if missing:
        raise Wrong(f"no answer for {what}(s) {missing}")
    for k in keys:
        if answers[k] not in allowed:
            raise Wrong(f"{what} {k}: {answers[k]!r} is not one of {list(allowed)}")
    return answers
