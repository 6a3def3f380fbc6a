"""Print requirements.txt with every lower bound turned into an exact pin: ``pkg>=X`` -> ``pkg==X``.

``make test-lowest`` installs its output, so the floors it tests are the floors requirements.txt
declares (no second, hand-kept list). Every requirement must be a plain ``name>=version``: a line
of any other form is an error, because its floor could not be tested this way.

    python scripts/lowest_requirements.py                        # all floors
    python scripts/lowest_requirements.py --skip torch torchvision

``--skip`` leaves packages out (torch and torchvision: their old wheels are too large for CI; their
floors are backed by the API audit in tests/test_dependency_floors.py instead).
"""

import argparse
import re
import sys
from pathlib import Path

FLOOR = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)$")


def floors(text):
    """Return ``[(name, version), ...]`` for the ``name>=version`` lines of a requirements text."""
    result = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = FLOOR.match(line)
        if match is None:
            raise ValueError(f"line {number}: {line!r} is not of the form 'name>=version'")
        result.append((match.group(1), match.group(2)))
    return result


def normalise(name):
    """PEP 503 name: ``Foo_Bar`` and ``foo-bar`` are the same package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lowest(text, skip=()):
    """The pins ``name==version`` for every floor in ``text`` except the packages in ``skip``."""
    skipped = {normalise(name) for name in skip}
    return [f"{name}=={v}" for name, v in floors(text) if normalise(name) not in skipped]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="?", default="requirements.txt", type=Path)
    parser.add_argument("--skip", nargs="*", default=[], metavar="PKG")
    args = parser.parse_args(argv)
    try:
        pins = lowest(args.requirements.read_text(), skip=args.skip)
    except ValueError as error:
        sys.exit(f"{args.requirements}: {error}")
    print("\n".join(pins))


if __name__ == "__main__":
    main()
