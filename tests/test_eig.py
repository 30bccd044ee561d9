"""Tests of eg.eig / eg.eigvals (MATH.md section 6)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import eigengrad as eg
from eigengrad.exceptions import (
    DefectiveEigenvalueError,
    DefectiveEigenvalueWarning,
    GaugeDependenceError,
    GaugeDependenceWarning,
    InputDTypeError,
    InputError,
    NonFiniteInputError,
    NotSquareError,
    SubgradientWarning,
)
from eigengrad.testing import directional_fd, nonnormal_with_spectrum, relative_error

with warnings.catch_warnings():  # torch's forward-AD decompositions warn once on first import
    warnings.simplefilter("ignore")
    import torch._decomp.decompositions_for_jvp

DTYPES = [torch.float64, torch.complex128]


def _random(n: int, dtype: torch.dtype, seed: int = 0, batch: tuple[int, ...] = ()) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(*batch, n, n, generator=gen, dtype=torch.float64)
    if dtype.is_complex:
        A = torch.complex(A, torch.randn(*batch, n, n, generator=gen, dtype=torch.float64))
    return A.to(dtype)


def _direction(A: torch.Tensor, seed: int = 1) -> torch.Tensor:
    return _random(A.shape[-1], A.dtype, seed=seed)


def _grad(f, A: torch.Tensor) -> torch.Tensor:
    A = A.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(f(A), A)
    return g


def _invariant_losses(solver):
    def eigenvalues(A):
        w = solver(A)[0]
        return (w.real**2).sum() + (w.imag * torch.arange(w.shape[-1])).sum()

    def abs_v(A):
        V = solver(A)[1]
        return (V.abs() * torch.linspace(0.5, 2.0, V.shape[-1] ** 2).reshape(V.shape)).sum()

    def projector(A):
        _, V = solver(A)
        P0 = V[:, :1] @ torch.linalg.inv(V)[:1, :]
        B = torch.linspace(-1.0, 1.0, V.shape[-1] ** 2, dtype=torch.float64).reshape(V.shape)
        return (P0.real * B).sum() + (P0.imag * B.mT).sum()

    return {"eigenvalues": eigenvalues, "abs_v": abs_v, "projector": projector}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["eigenvalues", "abs_v", "projector"])
def test_invariant_losses_match_native_and_finite_differences(dtype, name):
    A = _random(6, dtype, seed=3)
    E = _direction(A)
    ours = _invariant_losses(eg.eig)[name]
    native = _invariant_losses(torch.linalg.eig)[name]
    g = _grad(ours, A)
    assert g.dtype == A.dtype  # real A gets a real gradient
    assert relative_error(g, _grad(native, A)) < 1e-8
    fd = directional_fd(native, A, E, h=1e-4)
    assert abs(float((g.conj() * E).real.sum()) - fd) < 1e-8 * max(1.0, abs(fd))


@pytest.mark.parametrize("dtype", DTYPES)
def test_eigenvalue_gradients_match_scipy_left_eigenvectors(dtype):
    A = _random(5, dtype, seed=11)
    lam, ul, vr = scipy.linalg.eig(A.numpy(), left=True, right=True)
    w = eg.eig(A).eigenvalues
    for i in range(5):
        k = int(np.argmin(np.abs(lam - complex(w[i]))))
        u, v = ul[:, k], vr[:, k]
        ref = np.outer(u, v.conj()) / np.conj(u.conj() @ v)  # gradient of Re(lambda_i)
        ref_t = torch.from_numpy(ref.real.copy() if not dtype.is_complex else ref)
        g = _grad(lambda X, i=i: eg.eigvals(X)[i].real, A)
        assert relative_error(g, ref_t) < 1e-10
        g_im = _grad(lambda X, i=i: eg.eigvals(X)[i].imag, A)  # Im(lambda) = Re(-i lambda)
        ref_im = torch.from_numpy(ref * 1j)
        assert relative_error(g_im, ref_im.real if not dtype.is_complex else ref_im) < 1e-10


REAL_SPECTRUM = [[2.0, 1.0], [0.5, 3.0]]
COMPLEX_SPECTRUM = [[0.0, 1.0], [-1.0, 0.5]]


@pytest.mark.parametrize("matrix", [REAL_SPECTRUM, COMPLEX_SPECTRUM], ids=["real", "complex"])
@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_phase_dependent_loss_warns_and_raises(matrix, scale):
    A = torch.tensor(matrix, dtype=torch.float64)

    def loss(X, **kw):
        return scale * eg.eig(X, **kw).eigenvectors[0, 0].imag

    with pytest.warns(GaugeDependenceWarning, match=r"complex phase of eigenvector 0") as rec:
        g = _grad(loss, A)
    message = str(rec[0].message)
    assert "eigenvalue" in message and "|Im diag(V^H gV)_i|" in message
    assert bool(torch.isfinite(g).all())
    with pytest.raises(GaugeDependenceError, match="phase"):
        _grad(lambda X: loss(X, gauge="raise"), A)


def test_phase_gauge_measured_relative_to_the_cotangent():
    # The same loss at a tiny scale is still phase dependent (torch's absolute 1e-2 misses it).
    A = torch.tensor(COMPLEX_SPECTRUM, dtype=torch.complex128)
    with pytest.raises(GaugeDependenceError, match=r"is 0\.\d+"):
        _grad(lambda X: 1e-9 * eg.eig(X, gauge="raise").eigenvectors[:, 0].sum().imag, A)


def test_semisimple_repeated_eigenvalue_basis_check_and_exact_cluster_projector():
    A, S = nonnormal_with_spectrum([1.0, 1.0, 3.0, -2.0], dtype=torch.float64, seed=4)
    Sinv = torch.linalg.inv(S)
    B = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64).reshape(4, 4)

    def cluster_projector(X):
        w, P = eg.eig_projectors(X)
        near = (w - 1).abs() < 0.5
        return (P[near].sum(0).real * B).sum()

    g = _grad(cluster_projector, A)

    # Independent reference: FD of the cluster projector Pc = S_c S^{-1}_c, with eigenvalues
    # of the perturbed matrix selected near 1 (smooth: the cluster stays separated).
    def pc_numeric(X):
        lam, V = torch.linalg.eig(X)
        near = (lam - 1).abs() < 0.5
        P = V[:, near] @ torch.linalg.inv(V)[near, :]
        return (P.real * B).sum()

    E = _direction(A, seed=5)
    fd = directional_fd(pc_numeric, A, E, h=1e-5)
    assert abs(float((g * E).sum()) - fd) < 1e-7
    Pc = S[:, :2] @ Sinv[:2, :]
    assert abs(float((Pc * B).sum()) - float(cluster_projector(A))) < 1e-10

    i = int((eg.eigvals(A) - 1).abs().argmin())
    with pytest.warns(GaugeDependenceWarning, match=r"multiplicity 2") as rec:
        _grad(lambda X: eg.eig(X).eigenvectors[:, i].abs().sum(), A)
    assert "repeated eigenvalue 1" in str(rec[0].message)
    with pytest.warns(SubgradientWarning, match="multiplicity 2"):
        g = _grad(lambda X: eg.eigvals(X)[i].real, A)
    # the mean of the cluster: half the gradient of the cluster sum, tr(Pc dA) / 2
    assert relative_error(g, Pc.mT / 2) < 1e-10


JORDAN = [[2.0, 1.0], [0.0, 2.0]]
NEAR_JORDAN = [[2.0, 1.0], [1e-10, 2.0]]


@pytest.mark.parametrize("matrix", [JORDAN, NEAR_JORDAN], ids=["jordan", "perturbed"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_defective_eigenvalue_diagnosed_not_nan(matrix, dtype):
    A = torch.tensor(matrix, dtype=dtype)
    for loss in (
        lambda X, **kw: eg.eig(X, **kw).eigenvectors[:, 1].abs().sum(),
        lambda X, **kw: eg.eig(X, **kw).eigenvalues[0].real,
    ):
        with pytest.warns(DefectiveEigenvalueWarning, match=r"condition number") as rec:
            g = _grad(loss, A)
        assert bool(torch.isfinite(g).all())
        message = str(rec[0].message)
        assert "eigenvalue 2" in message and "e^(1/m)" in message
        with pytest.raises(DefectiveEigenvalueError, match=r"condition number .* = [\d.e+]+"):
            _grad(lambda X, loss=loss: loss(X, defective="raise"), A)
    if matrix is NEAR_JORDAN:  # kappa = 5e4, distance to a defective matrix ~ 1e-10
        with pytest.warns(DefectiveEigenvalueWarning, match=r"5e\+04.*distance"):
            _grad(lambda X: eg.eigvals(X)[0].real, A)


def test_larger_jordan_blocks_and_singular_eigenvector_matrix():
    J3 = torch.tensor([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    with pytest.warns(DefectiveEigenvalueWarning, match="multiplicity 3"):
        assert bool(torch.isfinite(_grad(lambda X: eg.eigvals(X)[0].real, J3)).all())
    N4 = torch.diag(torch.ones(3, dtype=torch.float64), 1)  # LAPACK's V is exactly singular
    with pytest.raises(DefectiveEigenvalueError, match="linearly dependent"):
        _grad(lambda X: eg.eigvals(X).real.sum(), N4)
    with pytest.raises(DefectiveEigenvalueError, match="linearly dependent"):
        torch.func.jvp(eg.eigvals, (N4,), (N4,))


def test_defective_float32_and_no_false_alarms_on_random_float32():
    A = torch.tensor(JORDAN, dtype=torch.float32)
    with pytest.warns(DefectiveEigenvalueWarning, match="condition number"):
        _grad(lambda X: eg.eig(X).eigenvectors[:, 1].abs().sum(), A)
    B = _random(64, torch.float32, seed=5)  # ordinary eigenvalue pairs: silent
    g = _grad(lambda X: eg.spectral_abscissa(X) + (eg.eig(X)[1].abs() ** 2).sum(), B)
    assert bool(torch.isfinite(g).all())


def test_defective_check_ignores_untouched_eigenvalues():
    A = torch.tensor([[2.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0]], dtype=torch.float64)
    g = _grad(lambda X: eg.eigvals(X)[2].real, A)  # the simple eigenvalue 5: exact, no warning
    assert relative_error(g, torch.diag(torch.tensor([0.0, 0.0, 1.0], dtype=A.dtype))) < 1e-14
    with pytest.warns(DefectiveEigenvalueWarning):  # forward mode cannot see the loss
        torch.func.jvp(lambda X: eg.eigvals(X)[2], (A,), (torch.ones_like(A),))


def test_trace_of_jordan_block_is_exact():
    A = torch.tensor(JORDAN, dtype=torch.float64)
    g = _grad(lambda X: eg.eigvals(X).real.sum(), A)  # a cluster sum: the trace
    assert relative_error(g, torch.eye(2, dtype=A.dtype)) < 1e-12


def _gauge_invariant(A):
    w, V = eg.eig(A)
    return torch.cat([w.real, w.imag, V.abs().reshape(-1)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradcheck_and_gradgradcheck(dtype):
    A = _random(4, dtype, seed=7).requires_grad_()
    assert torch.autograd.gradcheck(_gauge_invariant, (A,), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(_gauge_invariant, (A,))
    assert torch.autograd.gradcheck(lambda X: eg.eigvals(X), (A,), check_forward_ad=True)


def test_batches_vmap_and_jacobians_match_loops():
    A = _random(5, torch.float64, seed=2, batch=(3,))

    def f(X):
        w, V = eg.eig(X)
        return (V.abs() ** 2 * torch.arange(5.0)).sum() + w.real.sum() + (w.imag**2).sum()

    loop = torch.stack([torch.func.grad(f)(a) for a in A])
    assert relative_error(torch.func.vmap(torch.func.grad(f))(A), loop) < 1e-13
    batched = _grad(lambda X: torch.stack([f(x) for x in X]).sum(), A)
    assert relative_error(batched, loop) < 1e-13
    E = torch.ones_like(A[0])
    tangent = torch.func.vmap(lambda a: torch.func.jvp(f, (a,), (E,))[1])(A)
    assert relative_error(tangent, (loop * E).sum((-2, -1))) < 1e-10
    J_rev = torch.func.jacrev(lambda X: eg.eigvals(X).real)(A[0])
    J_fwd = torch.func.jacfwd(lambda X: eg.eigvals(X).real)(A[0])
    assert relative_error(J_rev, J_fwd) < 1e-12


def test_vmap_warns_once_for_the_whole_batch():
    A = torch.stack([torch.tensor(REAL_SPECTRUM), torch.tensor(COMPLEX_SPECTRUM)]).double()
    f = torch.func.grad(lambda X: eg.eig(X).eigenvectors[0, 0].imag)
    with pytest.warns(GaugeDependenceWarning, match=r"batch index") as rec:
        torch.func.vmap(f)(A)
    assert len(rec) == 1


def test_forward_mode_at_repeated_eigenvalue_uses_cluster_mean():
    A = torch.eye(3, dtype=torch.float64)
    E = torch.diag(torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64))
    _, dw = torch.func.jvp(eg.eigvals, (A,), (E,))  # documented: the mean, no warning
    assert relative_error(dw, torch.full((3,), 3.0, dtype=torch.complex128)) < 1e-14
    _, dw = torch.func.jvp(eg.eigvals, (A,), (torch.eye(3, dtype=torch.float64),))
    assert relative_error(dw.real, torch.ones(3, dtype=torch.float64)) < 1e-14


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_screen_and_full_policy_agree(dtype):
    # atol != 0 bypasses the one-sync screen: the full policy must give the same gradient.
    A = _random(7, dtype, seed=9)

    def loss(X, **kw):
        w, V = eg.eig(X, **kw)
        return (w.abs() ** 2).sum() + (V.abs() ** 3).sum()

    fast = _grad(loss, A)
    full = _grad(lambda X: loss(X, atol=1e-300), A)
    assert relative_error(fast, full) < 1e-14
    _, t_fast = torch.func.jvp(lambda X: eg.eig(X)[0], (A,), (A,))
    _, t_full = torch.func.jvp(lambda X: eg.eig(X, atol=1e-300)[0], (A,), (A,))
    assert relative_error(t_fast, t_full) < 1e-14


def test_float32_and_complex64():
    for dtype in (torch.float32, torch.complex64):
        A = _random(5, dtype, seed=1)
        g = _grad(lambda X: eg.eigvals(X).real.sum() + (eg.eig(X)[1].abs() ** 3).sum(), A)
        ref = _grad(
            lambda X: (
                torch.linalg.eigvals(X).real.sum() + (torch.linalg.eig(X)[1].abs() ** 3).sum()
            ),
            A,
        )
        assert g.dtype == dtype and relative_error(g, ref) < 1e-4


def test_empty_and_one_by_one():
    w, V = eg.eig(torch.zeros(2, 0, 0, dtype=torch.float64))
    assert w.shape == (2, 0) and V.shape == (2, 0, 0)
    # derivatives of n = 0 matrices: empty, in both modes (they used to fail in the condition
    # number estimate with a raw IndexError)
    for shape in ((0, 0), (3, 0, 0)):
        E = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(
            eg.eigvals(E).real.sum() + eg.eig(E)[1].abs().sum() + 0 * E.sum(), E
        )
        assert g.shape == shape
        _, t = torch.func.jvp(
            lambda X: eg.eigvals(X).real, (E.detach(),), (torch.ones(shape, dtype=torch.float64),)
        )
        assert t.shape == shape[:-1]
    A = torch.tensor([[3.0]], dtype=torch.float64)
    g = _grad(lambda X: eg.eigvals(X)[0].real + eg.eig(X)[1].abs().sum(), A)
    assert g.tolist() == [[1.0]]


def test_left_eigenvectors():
    A = _random(5, torch.complex128, seed=8)
    w, V, U = eg.eig(A, left=True)
    assert relative_error(U.mH @ A, w.unsqueeze(-1) * U.mH) < 1e-12
    assert relative_error(U.mH @ V, torch.eye(5, dtype=V.dtype)) < 1e-12
    lam, ul = scipy.linalg.eig(A.numpy(), left=True, right=False)
    for i in range(5):
        k = int(np.argmin(np.abs(lam - complex(w[i]))))
        u = U[:, i] / torch.linalg.vector_norm(U[:, i])
        assert abs(abs(complex(u.conj() @ torch.from_numpy(ul[:, k]))) - 1) < 1e-10


def test_bad_inputs():
    with pytest.raises(NotSquareError, match=r"eigengrad.eig: expected square .* \(2, 3\)"):
        eg.eig(torch.zeros(2, 3))
    with pytest.raises(InputDTypeError, match=r"torch\.int64"):
        eg.eigvals(torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(NonFiniteInputError, match="NaN"):
        eg.eig(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(InputError, match="gauge='warn'"):
        eg.eig(torch.eye(2), gauge="ignore")
    with pytest.raises(InputError, match="defective='warn'"):
        eg.eig(torch.eye(2), defective="ignore")


@settings(derandomize=True, max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    multiplicity=st.integers(2, 3),
    complex_input=st.booleans(),
)
def test_no_nan_and_exact_at_semisimple_repeated_eigenvalues(seed, multiplicity, complex_input):
    dtype = torch.complex128 if complex_input else torch.float64
    spectrum = [1.0] * multiplicity + [3.0, -2.0]
    A, S = nonnormal_with_spectrum(spectrum, dtype=dtype, seed=seed)
    Sinv = torch.linalg.inv(S)
    B = _random(len(spectrum), torch.float64, seed=seed + 1)

    def loss(X):
        w, P = eg.eig_projectors(X)
        near = (w.detach() - 1).abs() < 0.5
        return (P[near].sum(0).real * B).sum() + w[near].real.sum()

    g = _grad(loss, A)  # basis-invariant: exact, no warning (pytest runs with -W error)
    assert bool(torch.isfinite(g).all())
    # Reference: Pc = S_c S^-1_c; d tr(Pc B) = tr(B^T (Q dA Pc + Pc dA Q)) with the reduced
    # resolvent Q = sum_{j outside} P_j / (1 - w_j); d(cluster sum) = tr(Pc dA).
    m = multiplicity
    Pc = S[:, :m] @ Sinv[:m, :]
    Q = sum(S[:, j : j + 1] @ Sinv[j : j + 1, :] / (1.0 - spectrum[j]) for j in range(m, m + 2))
    Bc = B.to(A.dtype)
    ref = (Q.mT @ Bc @ Pc.mT + Pc.mT @ Bc @ Q.mT) + Pc.mT
    ref = ref.conj() if complex_input else ref.real
    assert relative_error(g, ref) < 1e-9


@settings(derandomize=True, max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), complex_input=st.booleans())
def test_jvp_vjp_adjointness(seed, complex_input):
    dtype = torch.complex128 if complex_input else torch.float64
    A, E = _random(4, dtype, seed=seed), _random(4, dtype, seed=seed + 1)
    gw = _random(4, torch.complex128, seed=seed + 2)[0]

    def f(X):
        w, V = eg.eig(X)
        return w, V.abs() ** 2  # phase-invariant eigenvector output

    _, (dw, dP) = torch.func.jvp(f, (A,), (E,))
    _, vjp = torch.func.vjp(f, A)
    gP = _random(4, torch.float64, seed=seed + 3)
    (gA,) = vjp((gw, gP))
    lhs = float((gA.conj() * E).real.sum())
    rhs = float((gw.conj() * dw).real.sum() + (gP * dP).sum())
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


@pytest.mark.parametrize("gap", [1e-4, 1e-7])
@pytest.mark.parametrize("dtype", DTYPES)
def test_near_repeated_eigenvalues_keep_exact_inverse_gaps(gap, dtype):
    # A matrix function built through eig needs its exact 1/gap terms at a resolvable gap;
    # reference: autograd of torch.linalg.matrix_exp (independent of eig).
    A, _ = nonnormal_with_spectrum([1.0, 1.0 + gap, 3.0, -2.0], dtype=dtype, seed=2)
    B = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64).reshape(4, 4)

    def expm_via_eig(X):
        w, V = eg.eig(X)
        return (((V * w.exp().unsqueeze(-2)) @ torch.linalg.inv(V)) * B).real.sum()

    g = _grad(expm_via_eig, A)
    ref = _grad(lambda X: (torch.linalg.matrix_exp(X) * B).real.sum(), A)
    # rounding error eps * kappa / gap: 1e-12 at gap 1e-4, 1e-9 at gap 1e-7
    assert relative_error(g, ref) < (1e-10 if gap > 1e-5 else 1e-8)


def test_forward_mode_cluster_projector_is_exact():
    A, _ = nonnormal_with_spectrum([1.0, 1.0, 3.0, -2.0], dtype=torch.float64, seed=6)
    B = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64).reshape(4, 4)
    E = _direction(A, seed=3)

    def pc(X, solver):
        w, V = solver(X)
        near = (w.detach() - 1).abs() < 0.5
        return ((V[:, near] @ torch.linalg.inv(V)[near, :]).real * B).sum()

    _, t = torch.func.jvp(lambda X: pc(X, eg.eig), (A,), (E,))
    fd = directional_fd(lambda X: pc(X, torch.linalg.eig), A, E, h=1e-5)
    assert abs(float(t) - fd) < 1e-7 * max(1.0, abs(fd))


def test_forward_over_forward_raises_instead_of_silent_zero():
    from torch.func import hessian, jacfwd, jacrev

    A = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def make(solver):
        def f(A):
            w, V = solver(A)
            return (w.real**2 + w.imag).sum() + (V.abs() ** 2)[0].sum()

        return f

    with pytest.raises(NotImplementedError, match=r"eigengrad\.eig: forward mode over forward"):
        jacfwd(jacfwd(make(eg.eig)))(A)
    # functions built on eig name themselves
    for fn, name in ((eg.eig_projectors, "eig_projectors"), (eg.eigvals, "eigvals")):
        with pytest.raises(NotImplementedError, match=rf"eigengrad\.{name}: forward mode over"):
            jacfwd(jacfwd(lambda X, fn=fn: fn(X)[-1].abs().sum()))(A)
    H = hessian(make(torch.linalg.eig))(A)
    torch.testing.assert_close(jacrev(jacfwd(make(eg.eig)))(A), H)
    torch.testing.assert_close(hessian(make(eg.eig))(A), H)
