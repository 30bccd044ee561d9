"""The neutral eigh rules on array_api_strict arrays, against explicit formulas."""

import ast
import pathlib

import array_api_strict as xp
import numpy as np
import pytest

from eigengrad._rules import _eigh as re
from eigengrad._rules._gauge import fix_gauge


def as_list(x):
    return np.asarray(x).tolist()


RULES = pathlib.Path(__file__).parents[2] / "src" / "eigengrad" / "_rules"


def test_rules_import_neither_torch_nor_jax():
    for path in RULES.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"torch", "jax", "numpy"}, (path.name, name)


def _sym(rng, n, complex_=False):
    X = rng.standard_normal((n, n))
    if complex_:
        X = X + 1j * rng.standard_normal((n, n))
    return X + X.conj().T


@pytest.mark.parametrize("complex_", [False, True])
def test_vjp_and_jvp_match_explicit_loops(complex_):
    rng = np.random.default_rng(0)
    n = 5
    A = _sym(rng, n, complex_)
    w_np, V_np = np.linalg.eigh(A)
    dA_np = _sym(rng, n, complex_)
    gw_np = rng.standard_normal(n)
    gV_np = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0)
    w, V, dA, gw, gV = (xp.asarray(a) for a in (w_np, V_np, dA_np, gw_np, gV_np))
    F = re.inverse_gaps(w)
    S = xp.conj(V).mT @ gV if complex_ else V.mT @ gV
    gA = re.eigh_vjp(V, gw, F, re.skew_hermitian(S))
    # explicit reference
    S_np = V_np.conj().T @ gV_np
    inner = np.diag(gw_np).astype(S_np.dtype)
    for i in range(n):
        for j in range(n):
            if i != j:
                inner[i, j] = (S_np[i, j] - np.conj(S_np[j, i])) / 2 / (w_np[j] - w_np[i])
    np.testing.assert_allclose(np.asarray(gA), V_np @ inner @ V_np.conj().T, atol=1e-12)
    dw, dV, _ = re.eigh_jvp(V, dA, F)
    K_np = V_np.conj().T @ dA_np @ V_np
    np.testing.assert_allclose(np.asarray(dw), np.real(np.diag(K_np)), atol=1e-12)
    Om = np.zeros_like(K_np)
    for i in range(n):
        for j in range(n):
            if i != j:
                Om[i, j] = K_np[i, j] / (w_np[j] - w_np[i])
    np.testing.assert_allclose(np.asarray(dV), V_np @ Om, atol=1e-12)


def test_inverse_gaps_masked_never_divides_by_zero():
    w = xp.asarray([1.0, 1.0, 2.0])
    keep = xp.asarray([[False, False, True], [False, False, True], [True, True, False]])
    F = re.inverse_gaps(w, keep)
    assert as_list(F) == [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [-1.0, -1.0, 0.0]]


def test_vjp_eigenvalues_only_and_nothing():
    V = xp.eye(2, dtype=xp.float64)
    assert as_list(re.eigh_vjp(V, xp.asarray([1.0, 2.0]), None, None)) == [[1.0, 0.0], [0.0, 2.0]]
    assert as_list(re.eigh_vjp(V, None, None, None)) == [[0.0, 0.0], [0.0, 0.0]]


def test_cluster_eigvalsh_sorts_each_block():
    rng = np.random.default_rng(1)
    K = _sym(rng, 7)
    labels = xp.asarray([0, 0, 1, 2, 2, 2, 3])
    multiple = xp.asarray([True, True, False, True, True, True, False])
    got = np.asarray(re.cluster_eigvalsh(xp.asarray(K), labels, multiple))
    expect = np.concatenate(
        [np.linalg.eigvalsh(K[:2, :2]), [K[2, 2]], np.linalg.eigvalsh(K[3:6, 3:6]), [K[6, 6]]]
    )
    np.testing.assert_allclose(got, expect, atol=1e-13)


def test_measure_cotangent_gauge_separates_noise_basis_and_phase():
    skew = xp.asarray([[0.0, 1e-20, 0.3], [-1e-20, 0.0, 0.0], [-0.3, 0.0, 0.0]])
    S_diag = xp.asarray([1.0, 1.0, 1.0])
    norms = xp.asarray([1.0, 1.0, 1.0])
    same = xp.asarray([[True, True, False], [True, True, False], [False, False, True]])
    m = re.measure_cotangent_gauge(skew, S_diag, norms, same, 1e-14)
    assert as_list(m.keep) == [[False, False, True], [False, False, False], [True, False, False]]
    assert float(xp.max(m.basis)) == pytest.approx(1e-20 / 2)
    assert m.phase is None
    cplx = re.measure_cotangent_gauge(
        xp.astype(skew, xp.complex128), xp.asarray([1 + 0.5j, 1.0, 1.0]), norms, same, 1e-14
    )
    assert cplx.phase is not None and float(cplx.phase[0]) == pytest.approx(0.5)


def test_cluster_spread():
    same = xp.asarray([[True, True, False], [True, True, False], [False, False, True]])
    spread = re.cluster_spread(xp.asarray([0.0, 2.0, 4.0]), same)
    assert as_list(spread) == [0.5, 0.5, 0.0]


def test_fix_gauge_real_and_complex():
    V = xp.asarray([[0.6, -0.8], [-0.8, -0.6]])
    assert as_list(fix_gauge(V)) == [[-0.6, 0.8], [0.8, 0.6]]
    Vc = xp.asarray([[0.6j, 0.0], [0.8, 1j]])
    out = np.asarray(fix_gauge(Vc))
    np.testing.assert_allclose(out, [[0.6j, 0.0], [0.8, 1.0]], atol=1e-15)
    assert fix_gauge(xp.zeros((0, 0))).shape == (0, 0)


def test_above_noise_equals_relative_skew_threshold():
    rng = np.random.default_rng(3)
    skew = xp.asarray(rng.standard_normal((4, 4)) * 10.0 ** rng.integers(-18, 0, (4, 4)))
    norms = xp.asarray([1.0, 0.0, 2.0, 1e-3])
    expect = re.relative_skew(skew, norms) > 1e-14
    assert as_list(re.above_noise(skew, norms, 1e-14)) == as_list(expect)
