"""The spectral section of ``eigengrad demo`` and the spectral benchmark's quick mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eigengrad.demo import SECTIONS
from eigengrad.demo._spectral_rows import rows

ROOT = Path(__file__).resolve().parents[1]


def test_every_spectral_row_behaves_as_claimed():
    table = rows()
    assert len(table) >= 5
    assert all(r.ok for r in table), [r.case for r in table if not r.ok]
    assert "eigengrad.demo._spectral_rows" in [module for _, module in SECTIONS]


def test_benchmark_quick_mode_runs():
    script = ROOT / "benchmarks" / "bench_spectral.py"
    env_path = str(ROOT / "src")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": env_path},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sqrtm" in result.stdout and "gap" in result.stdout
