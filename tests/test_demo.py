"""The main job: `eigengrad demo` behaves as claimed and exits 0."""

import subprocess
import sys

from eigengrad._cli import main
from eigengrad.demo import SECTIONS


def test_demo_exit_code_and_rows(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "-1.2592" in out
    assert out.count("\nok ") >= 7
    assert "all rows behave as claimed" in out
    assert len(SECTIONS) >= 1


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "eigengrad", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in result.stdout
