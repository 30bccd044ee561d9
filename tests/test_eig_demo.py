"""The eig demo section: every row behaves as claimed."""

from __future__ import annotations

from eigengrad.demo import SECTIONS, _eig_rows


def test_eig_rows_all_ok():
    assert any(module == "eigengrad.demo._eig_rows" for _, module in SECTIONS)
    rows = _eig_rows.rows()
    assert len(rows) >= 10
    assert [r.case for r in rows if not r.ok] == []
