"""Tests of eg.eigenvalue_condition_numbers and eg.eig_projectors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

import eigengrad as eg
from eigengrad.exceptions import DefectiveEigenvalueWarning, GaugeDependenceWarning
from eigengrad.testing import directional_fd, nonnormal_with_spectrum, relative_error

with warnings.catch_warnings():  # torch's forward-AD decompositions warn once on first import
    warnings.simplefilter("ignore")
    import torch._decomp.decompositions_for_jvp


def _random(n: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=gen, dtype=torch.float64)
    if dtype.is_complex:
        A = torch.complex(A, torch.randn(n, n, generator=gen, dtype=torch.float64))
    return A.to(dtype)


def _grad(f, A):
    A = A.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(f(A), A)
    return g


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_condition_numbers_match_scipy(dtype):
    A = _random(6, dtype, seed=2)
    lam, ul, vr = scipy.linalg.eig(A.numpy(), left=True, right=True)
    norms = np.linalg.norm(ul, axis=0) * np.linalg.norm(vr, axis=0)
    ref = norms / np.abs(np.sum(ul.conj() * vr, 0))
    w = eg.eigvals(A)
    kappa = eg.eigenvalue_condition_numbers(A)
    for i in range(6):
        k = int(np.argmin(np.abs(lam - complex(w[i]))))
        assert abs(float(kappa[i]) - ref[k]) < 1e-10 * ref[k]


def test_condition_numbers_closed_form_and_gradient():
    t = 3.0  # [[1, t], [0, 2]]: kappa = sqrt(1 + t^2) for both eigenvalues
    A = torch.tensor([[1.0, t], [0.0, 2.0]], dtype=torch.float64)
    kappa = eg.eigenvalue_condition_numbers(A)
    assert relative_error(kappa, torch.full((2,), (1 + t * t) ** 0.5, dtype=A.dtype)) < 1e-14
    g = _grad(lambda X: eg.eigenvalue_condition_numbers(X).sum(), A)
    E = torch.tensor([[0.3, -0.2], [0.5, 0.1]], dtype=torch.float64)
    fd = directional_fd(lambda X: eg.eigenvalue_condition_numbers(X).sum(), A, E, h=1e-4)
    assert abs(float((g * E).sum()) - fd) < 1e-8


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_projectors_identities_and_gradient(dtype):
    A = _random(5, dtype, seed=4)
    w, P = eg.eig_projectors(A)
    eye = torch.eye(5, dtype=P.dtype)
    assert relative_error(P.sum(0), eye) < 1e-12
    assert relative_error((w[:, None, None] * P).sum(0), A.to(P.dtype)) < 1e-12
    assert relative_error(P[1] @ P[1], P[1]) < 1e-12 and float((P[0] @ P[2]).abs().max()) < 1e-12
    B = _random(5, torch.complex128, seed=5)

    def loss(X):
        return (eg.eig_projectors(X).projectors[2] * B).real.sum()

    g = _grad(loss, A)  # phase-invariant: no warning (pytest runs with -W error)
    # Kato: dP_i = sum_{j != i} (P_j dA P_i + P_i dA P_j) / (w_i - w_j)
    E = _random(5, dtype, seed=6).to(P.dtype)
    dP = sum((P[j] @ E @ P[2] + P[2] @ E @ P[j]) / (w[2] - w[j]) for j in range(5) if j != 2)
    directional = float((dP * B).real.sum())
    assert abs(float((g.conj() * E).real.sum()) - directional) < 1e-9 * max(1, abs(directional))


def test_projector_of_member_of_repeated_eigenvalue_warns():
    A, _ = nonnormal_with_spectrum([1.0, 1.0, 3.0], dtype=torch.float64, seed=4)
    i = int((eg.eigvals(A) - 1).abs().argmin())
    with pytest.warns(GaugeDependenceWarning, match="multiplicity 2"):
        _grad(lambda X: eg.eig_projectors(X).projectors[i].real.sum(), A)


def test_projectors_and_condition_numbers_gradcheck_and_vmap():
    A = _random(4, torch.float64, seed=12).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda X: eg.eig_projectors(X).projectors, (A,), check_forward_ad=True
    )
    assert torch.autograd.gradcheck(eg.eigenvalue_condition_numbers, (A,), check_forward_ad=True)
    batch = torch.stack([_random(4, torch.complex128, seed=s) for s in range(3)])
    f = torch.func.grad(lambda X: eg.eigenvalue_condition_numbers(X).sum())
    loop = torch.stack([f(a) for a in batch])
    assert relative_error(torch.func.vmap(f)(batch), loop) < 1e-12


def test_ill_conditioned_projectors_do_not_raise_false_gauge_alarms():
    # kappa ~ 1e5: rounding noise of the phase-invariant projector loss is ~ kappa eps; the
    # gauge check scales its tolerance by max(1, kappa_j) (pytest runs with -W error).
    n = 20
    gen = torch.Generator().manual_seed(0)
    U = torch.triu(torch.randn(n, n, generator=gen, dtype=torch.float64), 1)
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64)).Q
    A = Q @ (torch.diag(torch.linspace(-1, 1, n, dtype=torch.float64)) + U) @ Q.T
    assert float(eg.eigenvalue_condition_numbers(A).max()) > 1e4
    B = torch.randn(n, n, generator=gen, dtype=torch.complex128)
    g = _grad(lambda X: (eg.eig_projectors(X).projectors[:2] * B).real.sum(), A)
    assert bool(torch.isfinite(g).all())


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (eg.eigenvalue_condition_numbers, "eigengrad.eigenvalue_condition_numbers"),
        (eg.eig_projectors, "eigengrad.eig_projectors"),
    ],
)
def test_errors_and_warnings_name_the_function(fn, name):
    # they used to name eigengrad.eig, which the caller never called
    with pytest.raises(eg.exceptions.NotSquareError, match=name):
        fn(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(eg.exceptions.InputError, match=rf"{name}: expected a real rtol >= 0"):
        fn(torch.eye(2, dtype=torch.float64), rtol=-1.0)
    J = torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    out = fn(J)
    value = out.real.sum() if isinstance(out, torch.Tensor) else out.projectors[0].real.sum()
    with pytest.warns(eg.exceptions.DefectiveEigenvalueWarning, match=f"{name} backward"):
        value.backward()


# --- A defective eigenvalue elsewhere in the spectrum (the reduced-resolvent path) ------------


def _with_jordan_block(dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """``A = X J X^{-1}``: a 2x2 Jordan block at 1 and simple eigenvalues 3, -2, 0.5j (or 0.5)."""
    simple = [3.0, -2.0, 0.5j if dtype.is_complex else 0.5]
    J = torch.diag(torch.tensor([1.0, 1.0, *simple], dtype=torch.complex128))
    J[0, 1] = 1.0
    X = _random(5, torch.complex128 if dtype.is_complex else torch.float64, seed)
    X = X.to(torch.complex128)
    A = X @ J @ torch.linalg.inv(X)
    A = A if dtype.is_complex else A.real
    projectors = [torch.outer(X[:, k], torch.linalg.inv(X)[k]) for k in range(2, 5)]
    return A.to(dtype), torch.tensor(simple, dtype=torch.complex128), projectors


def _projector_near(X: torch.Tensor, value: complex) -> torch.Tensor:
    w, P = eg.eig_projectors(X)
    return P[int((w - value).abs().argmin())]


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_simple_projectors_are_exact_next_to_a_jordan_block(dtype):
    # Through eig's Kato sum (V^{-1} of a nearly singular V) these lost half the digits in the
    # forward and were up to 0.3 off in the gradient.
    A, simple, exact = _with_jordan_block(dtype, seed=3)
    assert float(torch.linalg.cond(torch.linalg.eig(A).eigenvectors)) > 1e6
    B = _random(5, torch.complex128, seed=8)
    E = _random(5, dtype, seed=9)
    for value, P_exact in zip(simple.tolist(), exact, strict=True):
        assert relative_error(_projector_near(A, value), P_exact) < 1e-12

        def loss(X, value=value):
            return (_projector_near(X, value) * B).real.sum()

        g = _grad(loss, A)  # touches simple eigenvalues only: no warning (-W error)
        directional = float((g.conj() * E).real.sum())
        fd = directional_fd(loss, A, E, h=1e-5)
        assert abs(directional - fd) < 1e-7 * max(1.0, abs(fd))


def test_projector_next_to_a_jordan_block_matches_the_closed_form():
    # The known-gap example: P_3 of [[1, 1, 0], [0, 1, .5], [0, 0, 3]] (exact Jordan block).
    A = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 3.0]], dtype=torch.float64)
    P = _projector_near(A, 3.0)
    v, u = torch.tensor([0.125, 0.25, 1.0]), torch.tensor([0.0, 0.0, 1.0])
    assert relative_error(P, torch.outer(v, u).to(P.dtype)) < 1e-15
    # dP = -(S dA P + P dA S), S = (A - 3 I + P)^{-1} - P (Kato's reduced resolvent)
    Pr = P.real
    S = torch.linalg.inv(A - 3 * torch.eye(3, dtype=A.dtype) + Pr) - Pr
    B = _random(3, torch.float64, seed=1)
    g = _grad(lambda X: (_projector_near(X, 3.0) * B).real.sum(), A)
    assert relative_error(g, -(S.T @ B @ Pr.T + Pr.T @ B @ S.T)) < 1e-13


def test_condition_number_next_to_a_jordan_block():
    A, _, exact = _with_jordan_block(torch.float64, seed=4)

    def kappa_near(X, value=3.0):
        w = eg.eigvals(X)
        return eg.eigenvalue_condition_numbers(X)[int((w - value).abs().argmin())]

    P3 = exact[0]
    assert abs(float(kappa_near(A)) - float(torch.linalg.matrix_norm(P3, 2))) < 1e-12 * float(
        torch.linalg.matrix_norm(P3, 2)
    )
    E = _random(5, torch.float64, seed=5)
    g = _grad(kappa_near, A)  # was off by a factor of 6 through eig's Kato sum
    fd = directional_fd(kappa_near, A, E, h=1e-5)
    assert abs(float((g * E).sum()) - fd) < 1e-7 * max(1.0, abs(fd))


def test_projector_of_a_defective_eigenvalue_warns_or_raises():
    A, _, _ = _with_jordan_block(torch.float64, seed=3)
    with pytest.warns(eg.exceptions.DefectiveEigenvalueWarning, match="eig_projectors backward"):
        _grad(lambda X: _projector_near(X, 1.0).real.sum(), A)
    with pytest.raises(eg.exceptions.DefectiveEigenvalueError, match="eig_projectors backward"):
        X = A.clone().requires_grad_()
        w, P = eg.eig_projectors(X, defective="raise")
        P[int((w - 1).abs().argmin())].real.sum().backward()


def test_singular_eigenvector_matrix_is_a_typed_error():
    J = torch.diag(torch.ones(3, dtype=torch.float64), 1)  # 4x4 nilpotent Jordan block
    for fn in (eg.eig_projectors, eg.eigenvalue_condition_numbers):
        with pytest.raises(eg.exceptions.DefectiveEigenvalueError, match="linearly dependent"):
            fn(J)


def test_cluster_sum_is_exact_and_members_warn_next_to_a_jordan_block():
    # A semisimple double eigenvalue 2 and a Jordan block at 1, on the shifted-solve path.
    J = torch.diag(torch.tensor([1.0, 1.0, 2.0, 2.0, -1.0], dtype=torch.float64))
    J[0, 1] = 1.0
    X = _random(5, torch.float64, seed=6)
    A = X @ J @ torch.linalg.inv(X)
    B = _random(5, torch.complex128, seed=7)

    def cluster_sum(Y):
        w, P = eg.eig_projectors(Y)
        members = (w - 2).abs() < 1e-3
        return (P[members].sum(0) * B).real.sum()

    exact = torch.outer(X[:, 2], torch.linalg.inv(X)[2]) + torch.outer(
        X[:, 3], torch.linalg.inv(X)[3]
    )
    w, P = eg.eig_projectors(A)
    assert relative_error(P[(w - 2).abs() < 1e-3].sum(0), exact.to(P.dtype)) < 1e-12
    g = _grad(cluster_sum, A)  # basis-invariant: no warning (-W error)
    E = _random(5, torch.float64, seed=8)
    fd = directional_fd(cluster_sum, A, E, h=1e-5)
    assert abs(float((g * E).sum()) - fd) < 1e-7 * max(1.0, abs(fd))
    i = int((w - 2).abs().argmin())
    with pytest.warns(GaugeDependenceWarning, match="multiplicity 2"):
        _grad(lambda Y: (eg.eig_projectors(Y).projectors[i] * B).real.sum(), A)


@pytest.mark.parametrize("jordan", [True, False])
@pytest.mark.parametrize("gap", [1e-5, 1e-6, 1e-7, 1e-9])
def test_sum_over_a_tiny_gap_pair_is_exact_and_silent(jordan, gap):
    # Two eigenvalues a tiny gap apart: the sum of their projectors is smooth (the pair's total
    # projector), and its 1/gap terms cancel. Next to a Jordan block (shifted solves) it was
    # 5e-6 / 1e-3 / 3e-2 off at gaps 1e-5 / 1e-6 / 1e-7; without one, the pair itself looked
    # nearly defective below 1e-7 (a warning, and 4e-3 / 2e3 off). The loss ignores the mixing
    # inside the pair, so the backward treats it as one cluster.
    J = torch.diag(torch.tensor([1.0, 1.0, 2.0, 2.0 + gap, 3.0, 4.0], dtype=torch.float64))
    J[0, 1] = float(jordan)
    X = _random(6, torch.float64, seed=3)
    A = X @ J @ torch.linalg.inv(X)
    B = _random(6, torch.complex128, seed=5)

    def pair(Y, weights=(1.0, 1.0)):
        w, P = eg.eig_projectors(Y)
        i, j = torch.argsort((w - 2.0).abs())[:2]
        return ((weights[0] * P[i] + weights[1] * P[j]) * B).real.sum()

    g = _grad(pair, A)  # no warning (-W error)
    for seed in (8, 9):
        E = _random(6, torch.float64, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the shifted matrices may pass near the block
            fd = directional_fd(pair, A, E, h=1e-6)
        assert abs(float((g * E).sum()) - fd) < 1e-6 * max(1.0, abs(fd))
    if gap <= 1e-7 and not jordan:  # one member alone: a nearly defective pair, reported
        with pytest.warns(DefectiveEigenvalueWarning, match="nearly defective"):
            _grad(lambda Y: pair(Y, (1.0, 0.0)), A)


def test_tiny_gap_groups_join_only_when_every_pair_is_invariant():
    # Eigenvalues 2, 2 + d, 2 + 2d (d = 1e-5) next to a Jordan block, and a loss on P_i whose
    # cotangent ignores the mixing of (i, j) and of (j, k) but not of (i, k): joining the chain
    # transitively would drop the 1/(λ_i - λ_k) terms (and warn of a basis dependence).
    d = 1e-5
    J = torch.diag(torch.tensor([1.0, 1.0, 2.0, 2.0 + d, 2.0 + 2 * d, 4.0], dtype=torch.float64))
    J[0, 1] = 1.0
    X = _random(6, torch.float64, seed=3)
    A = X @ J @ torch.linalg.inv(X)
    Xinv = torch.linalg.inv(X)
    i, k = 2, 4  # j = 3 lies between them
    C = torch.zeros(6, 6, dtype=torch.float64)
    C[i, i] = C[i, k] = C[k, i] = 1.0  # u_a^H G^H v_b = C_ab: no (i, j) or (j, i) coupling
    G = (Xinv.mT @ C.mT @ X.mT).to(torch.complex128)  # G = U C^H V^H in the exact eigenbasis

    def loss(Y):  # rtol 1e-9: the designed zeros (noise 1e-11 here) count as invariance
        w, P = eg.eig_projectors(Y, rtol=1e-9)
        return (P[int((w - 2.0).abs().argmin())] * G.conj()).real.sum()

    g = _grad(loss, A)  # no warning (-W error)
    E = _random(6, torch.float64, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = directional_fd(loss, A, E, h=1e-8)
    assert abs(float((g * E).sum()) - fd) < 1e-5 * abs(fd)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_untouched_cluster_is_silent_in_single_precision(dtype):
    # The loss ignores the double eigenvalue 1: its within-cluster cotangent is 0 / 0, which
    # became NaN (a false gauge warning, an error with gauge="raise") when the float64 floor of
    # the denominator underflowed in single precision.
    X = _random(4, torch.float64, seed=3)
    A = (
        X
        @ torch.diag(torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=torch.float64))
        @ torch.linalg.inv(X)
    )
    A = A.to(dtype)

    def loss(Y):
        w, P = eg.eig_projectors(Y, gauge="raise")
        return P[int((w - 3).abs().argmin())].real.sum()

    assert bool(torch.isfinite(_grad(loss, A)).all())


def test_resolvent_path_gradcheck_gradgradcheck_and_forward_mode():
    A, _, _ = _with_jordan_block(torch.complex128, seed=3)
    A = A.requires_grad_()

    def simple(X):
        return _projector_near(X, 3.0)

    assert torch.autograd.gradcheck(simple, (A,), atol=1e-6)
    # eps = 1e-4: a step of 1e-6 splits the block by ~1e-3 only, and the finite difference of
    # two first derivatives (each exact to ~1e-11 there) would carry ~1e-5 noise. The seed fixes
    # gradgradcheck's random cotangents.
    torch.manual_seed(0)
    assert torch.autograd.gradgradcheck(simple, (A,), eps=1e-4, atol=1e-6)
    # Forward mode cannot see which projectors the loss uses: it reports the Jordan block.
    E = _random(5, torch.complex128, seed=2)
    B = _random(5, torch.complex128, seed=11)
    with pytest.warns(eg.exceptions.DefectiveEigenvalueWarning, match="eig_projectors jvp"):
        _, tangent = torch.func.jvp(simple, (A.detach(),), (E,))
    (g,) = torch.autograd.grad((simple(A) * B).real.sum(), A)
    directional = float((tangent * B).real.sum())
    assert abs(float((g.conj() * E).real.sum()) - directional) < 1e-10 * max(1.0, abs(directional))


def test_mixed_batch_and_vmap_agree_with_a_loop():
    # One matrix of the batch has a Jordan block: the whole batch takes the shifted-solve path.
    A_def, _, _ = _with_jordan_block(torch.float64, seed=3)
    batch = torch.stack([A_def, _random(5, torch.float64, seed=1), _random(5, torch.float64, 2)])
    B = _random(5, torch.complex128, seed=3)

    def loss(X):
        w, P = eg.eig_projectors(X)
        weights = (w.real - 2.0).abs().clamp_max(1.0) * ((w - 1).abs() > 1e-3)  # skip the block
        return ((P * B).real.sum((-2, -1)) * weights.detach()).sum()

    loop = torch.stack([_grad(loss, a) for a in batch])
    g = _grad(loss, batch)
    assert relative_error(g, loop) < 1e-10
    assert relative_error(torch.func.vmap(torch.func.grad(loss))(batch), loop) < 1e-10


@pytest.mark.parametrize("n", [0, 1])
def test_projectors_and_condition_numbers_of_tiny_matrices(n):
    A = torch.full((2, n, n), 3.0, dtype=torch.float64, requires_grad=True)
    P = eg.eig_projectors(A).projectors
    kappa = eg.eigenvalue_condition_numbers(A)
    assert P.shape == (2, n, n, n) and kappa.shape == (2, n)
    assert bool((P.real == 1).all()) and bool((kappa == 1).all())
    (g,) = torch.autograd.grad(P.real.sum() + kappa.sum(), A)
    assert g.shape == A.shape and bool((g == 0).all())


def test_projector_losses_of_a_real_matrix_with_complex_pairs_are_silent_and_exact():
    n = 16
    A = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    assert bool((eg.eigvals(A).imag != 0).any())
    B = _random(n, torch.complex128, seed=1)
    # sum_i P_i = I: a constant loss. Through eig, V^{-1} and autograd its rounding-level
    # cotangent raised a false GaugeDependenceWarning ("complex phase of eigenvector 9").
    g = _grad(lambda X: (eg.eig_projectors(X).projectors * B).real.sum(), A)  # -W error
    assert float(g.abs().max()) < 1e-12
    c = torch.randn(n, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def loss(X):
        P = eg.eig_projectors(X).projectors
        return (P * B * c).real.sum() + eg.eigenvalue_condition_numbers(X).sum()

    g = _grad(loss, A)
    E = _random(n, torch.float64, seed=2)
    fd = directional_fd(loss, A, E, h=1e-5)
    assert abs(float((g * E).sum()) - fd) < 1e-7 * max(1.0, abs(fd))


def _scipy_projector(A: torch.Tensor, value: complex) -> torch.Tensor:
    lam, ul, vr = scipy.linalg.eig(A.to(torch.float64).numpy(), left=True, right=True)
    k = int(np.argmin(np.abs(lam - value)))
    P = np.outer(vr[:, k], ul[:, k].conj()) / (ul[:, k].conj() @ vr[:, k])
    return torch.from_numpy(P).to(torch.complex128)


def test_shifted_path_keeps_ill_conditioned_simple_projectors_accurate():
    # kappa up to 1e6, well-separated eigenvalues; the estimated distance to a defective matrix
    # sends it to the shifted path. An oblique shift s v u^H (norm s kappa) made cond(M_i) >=
    # kappa^2: the refined projector was 2.6e-4 off, silently.
    n = 12
    gen = torch.Generator().manual_seed(1)
    N = torch.triu(torch.randn(n, n, generator=gen, dtype=torch.float64), 1) * 2.0
    Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64)).Q
    A = Q @ (torch.diag(torch.linspace(-1, 1, n, dtype=torch.float64)) + N) @ Q.T
    w, P = eg.eig_projectors(A)
    kappa = eg.eigenvalue_condition_numbers(A)
    i = int((w + 0.273).abs().argmin())
    assert float(kappa[i]) > 1e5
    assert relative_error(P[i], _scipy_projector(A, complex(w[i]))) < 1e-7
    # the gradient (of size 1e12) against the closed form -(S^H G P^H + P^H G S^H) built from
    # SciPy's vectors, S = (I - P)(A - lambda I + v v^H / |v|^2)^{-1}(I - P)
    lam, vr = scipy.linalg.eig(A.numpy())
    k = int(np.argmin(np.abs(lam - complex(w[i]))))
    v = torch.from_numpy(vr[:, k : k + 1])
    Pr, eye = _scipy_projector(A, complex(w[i])), torch.eye(n, dtype=torch.complex128)
    S = (
        (eye - Pr)
        @ torch.linalg.inv(A.to(eye.dtype) - complex(lam[k]) * eye + v @ v.mH)
        @ (eye - Pr)
    )
    B = _random(n, torch.complex128, seed=5)
    exact = -(S.mH @ B.conj() @ Pr.mH + Pr.mH @ B.conj() @ S.mH).real
    g = _grad(lambda X: (_projector_near(X, complex(w[i])) * B).real.sum(), A)
    assert relative_error(g, exact) < 1e-6


def test_float32_projector_gradient_next_to_a_jordan_block():
    # In float32 the block is not flagged (kappa ~ 2e3): the Kato path must use LAPACK's
    # eigenvalues, consistent with V (u^H A v is off by eps kappa; the gradient was 0.2 off).
    A64, _, _ = _with_jordan_block(torch.float64, seed=3)
    A = A64.to(torch.float32)
    P = _scipy_projector(A, 3.0)
    Ac = A.to(torch.complex128)
    S = torch.linalg.inv(Ac - 3.0 * torch.eye(5, dtype=Ac.dtype) + P) - P
    B = _random(5, torch.complex128, seed=1)
    exact = -(S.mH @ B.conj() @ P.mH + P.mH @ B.conj() @ S.mH).real
    g = _grad(lambda X: (_projector_near(X, 3.0) * B.to(torch.complex64)).real.sum(), A)
    assert relative_error(g.double(), exact) < 1e-3
