"""Neutral divided-difference rules, against 50-digit references (stdlib decimal)."""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import array_api_strict as xps
import numpy as np
import pytest
import torch

from eigengrad._rules import _divided_differences as rd

getcontext().prec = 60
EPS = 2.0**-52


def _dd(f, a: float, b: float) -> float:
    """Exact first divided difference of the float inputs, in 60-digit decimal."""
    A, B = Decimal(a), Decimal(b)
    if A == B:
        h = Decimal(10) ** -30
        return float((f(A + h) - f(A - h)) / (2 * h))
    return float((f(A) - f(B)) / (A - B))


def _dd2(f, a: float, b: float, c: float) -> float:
    A, B, C = (Decimal(x) for x in (a, b, c))
    h = Decimal(10) ** -18
    pts = sorted([A, B, C])
    # perturb equal points apart: divided differences are continuous
    pts = [p + i * h for i, p in enumerate(pts)]
    x, y, z = pts
    fxy = (f(x) - f(y)) / (x - y)
    fyz = (f(y) - f(z)) / (y - z)
    return float((fxy - fyz) / (x - z))


def _exp(x: Decimal) -> Decimal:
    return x.exp()


def _log(x: Decimal) -> Decimal:
    return x.ln()


def _sqrt(x: Decimal) -> Decimal:
    return x.sqrt()


def _invsqrt(x: Decimal) -> Decimal:
    return 1 / x.sqrt()


PAIRS = [
    (a, a + g)
    for a in (1e-8, 0.3, 1.0, 7.0, 1e8)
    for g_rel in (0.0, 1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 1.0)
    for g in (a * g_rel,)
]


def _pair_array(xp, a: float, b: float):
    return xp.asarray([a, b], dtype=xp.float64)


@pytest.mark.parametrize(
    ("rule", "ref", "positive_only"),
    [
        (rd.exp_divided_differences, _exp, False),
        (rd.log_divided_differences, _log, True),
        (rd.sqrt_divided_differences, _sqrt, True),
        (rd.invsqrt_divided_differences, _invsqrt, True),
    ],
    ids=["exp", "log", "sqrt", "invsqrt"],
)
def test_closed_forms_match_high_precision(rule, ref, positive_only):
    worst = 0.0
    for a, b in PAIRS:
        if rule is rd.exp_divided_differences and max(a, b) > 100:
            a, b = a * 1e-7, b * 1e-7
        D = rule(_pair_array(xps, a, b))
        exact = _dd(ref, a, b)
        got = float(D[0, 1])
        worst = max(worst, abs(got - exact) / abs(exact))
        assert float(D[0, 1]) == float(D[1, 0])
    assert worst < 8 * EPS, worst


@pytest.mark.parametrize("p", [-1.5, -1.0, 0.25, 1.0, 2.0, 3.0, 2.5])
def test_power_divided_differences(p):
    worst = 0.0
    for a, b in PAIRS:
        D = rd.power_divided_differences(_pair_array(xps, a, b), p)
        exact = _dd(lambda x, p=p: x ** Decimal(p), a, b)
        worst = max(worst, abs(float(D[0, 1]) - exact) / abs(exact))
    assert worst < 1e-13, worst


def test_power_negative_integer_arguments():
    for p in (2.0, 3.0, -1.0):
        for a, b in [(-1.0, -1.0 - 1e-12), (-2.0, 3.0), (-1.0, 0.0), (-5.0, -5.0)]:
            if p < 0 and b == 0.0:
                continue
            D = rd.power_divided_differences(_pair_array(xps, a, b), p)
            exact = _dd(lambda x, p=p: x ** int(p), a, b)
            assert abs(float(D[0, 1]) - exact) <= 1e-13 * abs(exact) + 1e-300, (p, a, b)


@pytest.mark.parametrize(
    ("f", "df", "ref"),
    [(xps.exp, xps.exp, _exp), (xps.log, lambda x: 1 / x, _log), (xps.sqrt, None, _sqrt)],
    ids=["exp", "log", "sqrt"],
)
def test_generic_rule_switches_over_stably(f, df, ref):
    if df is None:

        def df(x):
            return 0.5 / xps.sqrt(x)

    worst = 0.0
    for a, b in PAIRS:
        if f is xps.exp and max(a, b) > 100:
            a, b = a * 1e-7, b * 1e-7
        w = _pair_array(xps, a, b)
        D = rd.generic_divided_differences(w, f(w), df(w), df, EPS)
        exact = _dd(ref, a, b)
        worst = max(worst, abs(float(D[0, 1]) - exact) / abs(exact))
    assert worst < 1e-10, worst  # about eps^(2/3)


def test_generic_rule_prefers_quotient_far_apart():
    # f(x) = x (x - 1) (x - 2): f(0) = f(2) but f[0, 2] = 0 while f'(0) = f'(2) = 2.
    w = xps.asarray([0.0, 2.0], dtype=xps.float64)

    def f(x):
        return x * (x - 1) * (x - 2)

    def df(x):
        return 3 * x * x - 6 * x + 2

    D = rd.generic_divided_differences(w, f(w), df(w), df, EPS)
    assert float(D[0, 1]) == 0.0
    assert float(D[0, 0]) == 2.0


def test_naive_quotient_would_fail():
    # the reason for the rules: the plain quotient loses everything at a gap of 1e-13
    a, b = 1.0, 1.0 + 1e-13
    naive = (math.exp(a) - math.exp(b)) / (a - b)
    assert abs(naive - _dd(_exp, a, b)) / math.e > 1e-4


@pytest.mark.parametrize(
    "triple",
    [
        (0.5, 1.0, 2.0),
        (1.0, 1.0, 2.0),
        (1.0, 2.0, 1.0),
        (1.0, 1.0, 1.0),
        (1.0, 1.0 + 1e-9, 2.0),
        (1.0, 1.0 + 1e-12, 1.0 + 3e-12),
        (0.3, 0.3 + 1e-7, 0.3 + 2e-7),
    ],
)
def test_second_divided_differences(triple):
    w = xps.asarray(list(triple), dtype=xps.float64)
    D = rd.exp_divided_differences(w)
    T = rd.second_divided_differences(w, D, xps.exp, xps.exp(w), EPS)
    exact = _dd2(_exp, *triple)
    for i, j, k in [(0, 1, 2), (2, 1, 0), (1, 0, 2), (0, 0, 1), (2, 2, 2)]:
        args = (triple[i], triple[j], triple[k])
        ref = _dd2(_exp, *args) if (i, j, k) != (0, 1, 2) else exact
        assert abs(float(T[i, j, k]) - ref) <= 1e-9 * abs(ref), (i, j, k)


def test_indicator_only_cross_gaps():
    w = xps.asarray([1.0, 1.0, 3.0], dtype=xps.float64)
    s = xps.asarray([1.0, 1.0, 0.0], dtype=xps.float64)
    D = rd.indicator_divided_differences(w, s)
    expected = np.array([[0, 0, -0.5], [0, 0, -0.5], [-0.5, -0.5, 0]])
    np.testing.assert_array_equal(np.asarray(D), expected)


def test_clamp_divided_differences():
    w = xps.asarray([-1.0, 0.0, 0.5, 0.5, 3.0], dtype=xps.float64)
    D = np.asarray(rd.clamp_divided_differences(w, 0.0, 2.0))
    assert D[2, 3] == 1.0  # equal, inside
    assert D[0, 0] == 0.0  # outside
    assert D[1, 1] == 1.0  # on the kink: 1, as torch.clamp
    assert D[0, 2] == pytest.approx(0.5 / 1.5)  # across the lower kink
    assert D[2, 4] == pytest.approx(1.5 / 2.5)


def test_second_frechet_eigenbasis_is_symmetric_bilinear():
    gen = np.random.default_rng(0)
    T = gen.standard_normal((3, 3, 3))
    perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    T = sum(T.transpose(p) for p in perms)
    X = gen.standard_normal((3, 3))
    Y = gen.standard_normal((3, 3))
    X, Y = X + X.T, Y + Y.T
    out = np.asarray(rd.second_frechet_eigenbasis(xps.asarray(T), xps.asarray(X), xps.asarray(Y)))
    ref = np.einsum("abc,ac,cb->ab", T, X, Y) + np.einsum("abc,ac,cb->ab", T, Y, X)
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    swapped = rd.second_frechet_eigenbasis(xps.asarray(T), xps.asarray(Y), xps.asarray(X))
    np.testing.assert_allclose(out, np.asarray(swapped), rtol=1e-13)


def test_rules_accept_torch_batches():
    w = torch.tensor([[1.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    D = rd.exp_divided_differences(w)
    assert D.shape == (2, 2, 2)
    assert torch.allclose(D[1], torch.full((2, 2), math.e, dtype=torch.float64))
