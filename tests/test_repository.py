"""Repository-level checks: lint, types, and smoke runs of benchmarks and examples."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]


def _run(*args):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_and_format():
    for args in (["check", "."], ["format", "--check", "."]):
        result = _run(sys.executable, "-m", "ruff", *args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy():
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py")))
def test_benchmark_smoke(script):
    result = _run(sys.executable, f"benchmarks/{script}", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr


# examples run as written, warnings as errors; long trainings get a short schedule
EXAMPLE_ARGS = {"algebraic_connectivity.py": ["--steps", "6"]}


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_example_runs(script):
    args = EXAMPLE_ARGS.get(script, [])
    result = _run(sys.executable, "-W", "error", f"examples/{script}", *args)
    assert result.returncode == 0, result.stdout + result.stderr
