"""The declared dependency floors are true: see CONTRIBUTING.md, "Dependency floors".

- `make test-lowest` installs the pins that scripts/lowest_requirements.py makes from
  requirements.txt and runs the whole suite with them (torch and torchvision excepted);
- torch and torchvision: every torch name the code uses must be in tests/torch_api_floor.txt,
  the names checked present in the floor's release by scripts/torch_api_audit.py;
- the Python floor is the same in pyproject.toml, environment.yml, the README and ruff's target.
"""

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lowest_requirements = load_script("lowest_requirements")
torch_api_audit = load_script("torch_api_audit")
REQUIREMENTS = (ROOT / "requirements.txt").read_text()


def test_lowest_requirements_pins_every_floor():
    text = "# comment\nnumpy>=1.24  # why\n\nFoo_Bar >= 2.0.1\ntorch>=2.2\n"
    assert lowest_requirements.floors(text) == [("numpy", "1.24"), ("Foo_Bar", "2.0.1"),
                                                ("torch", "2.2")]
    assert lowest_requirements.lowest(text, skip=["torch", "foo-bar"]) == ["numpy==1.24"]
    for bad in ("numpy", "numpy==1.24", "numpy>=1.24,<3", "numpy~=1.24", "numpy>=1.24; os_name"):
        with pytest.raises(ValueError, match="line 2: .* is not of the form 'name>=version'"):
            lowest_requirements.floors(f"scipy>=1.10\n{bad}\n")


def test_requirements_are_floors_only():
    """Every line of requirements.txt is a `name>=version` floor (floors() raises otherwise)."""
    names = {name for name, _ in lowest_requirements.floors(REQUIREMENTS)}
    assert {"numpy", "torch", "torchvision", "pytest", "nbval"} <= names


def python_floors():
    """The Python floor as each file states it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = (ROOT / "environment.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    return {
        "pyproject requires-python": pyproject["project"]["requires-python"].removeprefix(">="),
        "ruff target-version": re.sub(r"py3(\d+)", r"3.\1",
                                      pyproject["tool"]["ruff"]["target-version"]),
        "environment.yml": re.search(r"- python>=(3\.\d+)", env).group(1),
        "README": re.search(r"with Python (3\.\d+)\+", readme).group(1),
    }


def test_python_floor_agrees_everywhere_and_is_this_python():
    floors = python_floors()
    assert len(set(floors.values())) == 1, floors
    (floor,) = set(floors.values())
    assert sys.version_info >= tuple(map(int, floor.split(".")))


def test_torch_api_record_is_for_the_declared_floor():
    declared = dict(lowest_requirements.floors(REQUIREMENTS))
    header = (ROOT / "tests" / "torch_api_floor.txt").read_text().splitlines()[0]
    release = re.fullmatch(r"# floor: torch ([\d.]+) \+ torchvision ([\d.]+)", header)
    assert release is not None, header
    for package, version in zip(("torch", "torchvision"), release.groups(), strict=True):
        assert version.removesuffix(".0") == declared[package].removesuffix(".0"), package


def test_torch_api_audit_finds_what_the_code_uses():
    """The collector sees through import aliases and finds method calls; it cannot find nothing."""
    source = """
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import clip_grad_norm_
from lib.numpy_ref import init
x = torch.zeros(3).unfold(0, 2, 1)
y = F.unfold(x, 2)
m = nn.Linear(2, 2)
m.register_buffer("b", x)
init.zeros(3)
norm = torch.nn.utils.get_total_norm([x])
"""
    used = torch_api_audit.used_in_source(source, torch_api_audit.installed_class_attrs())
    assert {"torch.zeros", "torch.Tensor.unfold", "torch.nn.functional.unfold", "torch.nn.Linear",
            "torch.nn.Module.register_buffer", "torch.nn.utils.clip_grad_norm_",
            "torch.nn.utils.get_total_norm"} <= used
    assert not [name for name in used if "init" in name]  # lib's own init module is not torch's
    # torch 2.6 API: the record of the 2.2 floor lacks it, so the test below would fail on it
    assert "torch.nn.utils.get_total_norm" not in torch_api_audit.read_record()


def test_code_uses_only_torch_api_recorded_for_the_floor():
    used = torch_api_audit.used_api()
    record = torch_api_audit.read_record()
    missing = sorted(set(used) - set(record) - set(torch_api_audit.NOT_TORCH))
    assert len(used) > 100  # the whole library, its tests and the chapters were read
    assert not missing, (
        "torch names that tests/torch_api_floor.txt does not record as present in the declared "
        "floor (requirements.txt); check them and re-write the record as the docstring of "
        "scripts/torch_api_audit.py says (or use other API, or raise the floor):\n"
        + "\n".join(f"  {name}  (used in {', '.join(used[name][:3])})" for name in missing))


def test_torch_api_audit_pairs_wheels_by_release():
    names = ["torchvision-0.17.0-cp311.whl", "torch-2.10.0-cp311.whl", "torch-2.2.0-cp311.whl",
             "torchvision-0.25.0-cp311.whl"]  # glob order; 2.10 is newer than 2.2
    pairs = torch_api_audit.pair_releases([Path(n) for n in names])
    assert [[w.name.split("-")[1] for w in pair] for pair in pairs] == [["2.2.0", "0.17.0"],
                                                                         ["2.10.0", "0.25.0"]]
    with pytest.raises(SystemExit, match="one torchvision wheel for each torch wheel"):
        torch_api_audit.pair_releases([Path(names[1])])
