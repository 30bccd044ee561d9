"""eg.power_iteration: implicit vs unrolled derivatives, forward mode, warnings, errors."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD

import eigengrad as eg
from eigengrad.exceptions import (
    ConvergenceWarning,
    InputError,
    NonFiniteInputError,
    SplitClusterWarning,
)
from eigengrad.testing import cycle_edges, matrix_with_spectrum, relative_error

F64 = torch.float64


# iterative solvers: single-threaded, so results do not depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


def _separated(n=120, seed=1):
    w = torch.linspace(-0.5, 1.0, n, dtype=F64)
    w[-1] = 2.0  # dominant, ratio 0.5
    return matrix_with_spectrum(w, seed=seed)


def _loss(lam, x, c):
    return lam + (x @ c) ** 2 + x.sum()


def test_implicit_matches_unrolled_dense():
    A0, _w, _Q = _separated()
    c = torch.linspace(-1, 1, A0.shape[0], dtype=F64)
    grads = {}
    for mode in ("implicit", "unrolled"):
        A = A0.clone().requires_grad_()
        lam, x, info = eg.power_iteration(A, differentiation=mode, tol=1e-14)
        assert bool(info.converged.all())
        assert abs(float(lam.detach()) - 2.0) < 1e-12
        (grads[mode],) = torch.autograd.grad(_loss(lam, x, c), A)
    assert relative_error(grads["implicit"], grads["unrolled"]) < 1e-8
    assert torch.allclose(grads["implicit"], grads["implicit"].T)


def test_implicit_matches_unrolled_sparse_and_operator():
    n = 200
    und = cycle_edges(n)[:, :n]
    edges = torch.cat([und, und.flip(0)], 1)
    base = torch.linspace(0.5, 1.5, n, dtype=F64)
    bump = torch.zeros(n, dtype=F64)
    bump[0] = 6.0  # a localized, well-separated dominant eigenvector
    diag = torch.arange(n).repeat(2, 1)
    results = {}
    for form in ("sparse", "operator"):
        for mode in ("implicit", "unrolled"):
            t = base.clone().requires_grad_()
            L = eg.graph_laplacian(edges, t.repeat(2), n).coalesce()
            A = torch.sparse_coo_tensor(
                torch.cat([L.indices(), diag], 1),
                torch.cat([L.values(), bump]),
                (n, n),
                check_invariants=False,
            ).coalesce()
            if form == "operator":
                A = eg.aslinearoperator(A)
            lam, x, _info = eg.power_iteration(A, differentiation=mode, tol=1e-14)
            (g,) = torch.autograd.grad(lam + x[:10].pow(2).sum(), t)
            results[form, mode] = g
    for form in ("sparse", "operator"):
        assert relative_error(results[form, "implicit"], results[form, "unrolled"]) < 1e-8
    assert relative_error(results["sparse", "implicit"], results["operator", "implicit"]) < 1e-12


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_matches_unrolled():
    A0, _w, Q = _separated(60)
    dA = eg.testing.symmetric_direction(60, seed=3)
    out = {}
    for mode in ("implicit", "unrolled"):
        with fwAD.dual_level():
            lam, x, _ = eg.power_iteration(fwAD.make_dual(A0, dA), differentiation=mode, tol=1e-14)
            out[mode] = (fwAD.unpack_dual(lam).tangent, fwAD.unpack_dual(x).tangent)
    assert relative_error(out["implicit"][0], out["unrolled"][0]) < 1e-8
    assert relative_error(out["implicit"][1], out["unrolled"][1]) < 1e-8
    assert abs(float(out["implicit"][0]) - float(Q[:, -1] @ dA @ Q[:, -1])) < 1e-10


def test_nonconvergence_warns():
    A = torch.diag(torch.tensor([2.0, -2.0, 1.0], dtype=F64))  # |λ| tie: no convergence
    with pytest.warns(ConvergenceWarning, match="relative residual reached"):
        eg.power_iteration(A, max_iter=50)


@pytest.mark.parametrize("form", ["dense", "sparse", "operator"])
@pytest.mark.parametrize("mode", ["implicit", "unrolled"])
@pytest.mark.parametrize("gap", [0.0, 1e-13, 1e-3])
def test_repeated_dominant_eigenvalue_warns(form, mode, gap):
    # |λ_1| = 2 repeated (or 1e-13 apart): the eigenvector depends on the start vector. A gap
    # of 1e-3 is resolved: silent, and the guard measures it.
    w = torch.linspace(-0.5, 1.0, 80, dtype=F64)
    w[-2:] = torch.tensor([2.0 - gap, 2.0], dtype=F64)
    A, _, _ = matrix_with_spectrum(w, seed=2)
    if form != "dense":
        A = A.to_sparse()
    if form == "operator":
        A = eg.aslinearoperator(A)
    if gap < 1e-12:
        with pytest.warns(SplitClusterWarning, match="dominant eigenvalue 2 is"):
            lam, _, info = eg.power_iteration(A, differentiation=mode)
        assert info.guard_gap < 1e-9
    else:
        lam, _, info = eg.power_iteration(A, differentiation=mode, max_iter=100000)
        assert abs(info.guard_gap - gap) < 1e-6
    assert abs(float(lam.detach()) - 2.0) < 1e-9


def test_guard_leaves_the_iterate_unchanged():
    # the guard is a diagnostic: the iterate and the iteration count are those of plain power
    # iteration (reproduced here)
    A0, _, _ = _separated(50)
    x = eg._lobpcg.random_block(50, 1, F64, torch.device("cpu"), 0)
    x = x / torch.linalg.vector_norm(x)
    it = 0
    while True:
        it += 1
        y = A0 @ x
        lam = float(x.T @ y)
        if float(torch.linalg.vector_norm(y - lam * x)) <= eg._eigsh.default_tol(F64) * abs(lam):
            break
        x = y / torch.linalg.vector_norm(y)
    out = eg.power_iteration(A0)  # the same up to the rounding of a two-column product
    assert out.info.iterations == it
    assert abs(float(out.eigenvalue) - lam) < 1e-15 * abs(lam)
    assert relative_error(out.eigenvector, eg._rules._gauge.fix_gauge(x)[:, 0]) < 1e-14
    assert 1.0 - 1e-12 <= out.info.guard_gap < 1.5  # |λ_1| - |θ_g| >= |λ_1| - |λ_2| = 1


@pytest.mark.parametrize("seed", range(4))
def test_unconverged_guard_does_not_warn(seed):
    # simple dominant eigenvalue 2 followed by ±1.9: x converges, the guard oscillates between
    # the pair with a residual of about 1.9; it warned falsely for three of these seeds
    w = torch.cat([torch.tensor([2.0, 1.9, -1.9], dtype=F64), torch.linspace(-0.3, 0.3, 60)])
    A, _, _ = matrix_with_spectrum(w.to(F64), seed=seed)
    lam, _, info = eg.power_iteration(A, seed=seed)  # -W error: no warning
    assert abs(float(lam) - 2.0) < 1e-9 and info.guard_gap >= 0.1 - 1e-12


def test_guard_edge_cases():
    # A annihilates the guard (rank one): the guard is zero, not NaN; n = 1 has no guard
    for d in ([5.0, 0.0], [5.0, 0.0, 0.0], [0.0, -5.0, 0.0]):
        out = eg.power_iteration(torch.diag(torch.tensor(d, dtype=F64)))
        assert abs(float(out.eigenvalue)) == 5.0 and out.info.guard_gap == 5.0
    out = eg.power_iteration(torch.tensor([[3.0]], dtype=F64))
    assert float(out.eigenvalue) == 3.0 and out.info.guard_gap == float("inf")


def test_errors():
    A = torch.eye(3, dtype=F64)
    with pytest.raises(InputError, match="differentiation"):
        eg.power_iteration(A, differentiation="backprop")
    with pytest.raises(InputError, match="x0"):
        eg.power_iteration(A, x0=torch.ones(4, dtype=F64))
    # a zero start vector used to run max_iter iterations and return NaN
    with pytest.raises(InputError, match="nonzero start vector"):
        eg.power_iteration(A, x0=torch.zeros(3, dtype=F64))
    with pytest.raises(NonFiniteInputError):
        eg.power_iteration(A, x0=torch.tensor([1.0, float("nan"), 0.0], dtype=F64))
    with pytest.raises(eg.exceptions.InputDTypeError, match="real x0 for a real operator"):
        eg.power_iteration(A, x0=torch.ones(3, dtype=torch.complex128))
    with pytest.warns(SplitClusterWarning, match="dominant eigenvalue 1 is"):  # I: repeated
        assert eg.power_iteration(A, max_iter=1e3).info.converged.all()  # integral float
    for options, match in (
        ({"tol": -1.0}, "positive tol"),
        ({"max_iter": 0}, "max_iter >= 1"),
        ({"seed": 1.5}, "integer seed"),
    ):
        with pytest.raises(InputError, match=match):
            eg.power_iteration(A, **options)
