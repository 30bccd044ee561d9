"""Smoke runs of the partial-eigensolver examples and benchmark (never timed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_benchmark_quick():
    out = _run("benchmarks/bench_partial.py", "--quick")
    assert "eg.eigsh" in out and "unrolled" in out


def test_algebraic_connectivity_example():
    out = _run("examples/algebraic_connectivity.py", "--steps", "6")
    assert "algebraic connectivity raised" in out


def test_spectral_clustering_example():
    out = _run("-W", "error", "examples/spectral_clustering.py")
    assert "faction agreement" in out
