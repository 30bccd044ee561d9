"""eg.matrix_function, eg.trace_function and the named functions (MATH.md section 4)."""

from __future__ import annotations

import warnings

import pytest
import scipy.linalg as sl
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import eigengrad as eg
from eigengrad.exceptions import DomainError, InputError, NotHermitianError
from eigengrad.testing import (
    block_triangular_frechet,
    function_divided_differences,
    matrix_with_spectrum,
    relative_error,
    symmetric_direction,
)

with warnings.catch_warnings():  # torch 2.13 deprecation chatter on torch.func.jvp's first use
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch._decomp.decompositions_for_jvp

F64, C128 = torch.float64, torch.complex128


def herm(X: torch.Tensor) -> torch.Tensor:
    return (X + X.mH) / 2


SPECTRA = {
    "separated": [0.5, 1.0, 2.0, 3.5],
    "double": [1.0, 1.0, 2.0, 3.0],
    "triple": [1.0, 1.0, 1.0, 3.0],
    "identity": [1.0, 1.0, 1.0, 1.0],
    **{f"near{g:g}": [1.0, 1.0 + g, 2.0, 3.0] for g in (1e-14, 1e-12, 1e-10, 1e-8, 1e-6)},
}
WIDE = (1e-8, 1e-4, 1.0, 1e4, 1e8)
# exp(s * 3.5) must not overflow; sin has no scale invariance either: s <= 10.
NARROW = (1e-8, 1e-4, 1e-2, 1.0, 10.0)

CASES = {
    "expm": (eg.expm, sl.expm, NARROW),
    "logm": (eg.logm, sl.logm, WIDE),
    "sqrtm": (eg.sqrtm, sl.sqrtm, WIDE),
    "user-sin": (lambda A: eg.matrix_function(A, torch.sin), sl.sinm, NARROW),
    "user-exp": (lambda A: eg.matrix_function(A, torch.exp), sl.expm, NARROW),
    "user-sqrt": (lambda A: eg.matrix_function(A, torch.sqrt), sl.sqrtm, WIDE),
}


def _quiet(fn):
    def call(M):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SciPy's logm/sqrtm accuracy chatter
            return fn(M)

    return call


@pytest.mark.parametrize("dtype", [F64, C128])
@pytest.mark.parametrize("spectrum", list(SPECTRA))
@pytest.mark.parametrize("case", list(CASES))
def test_frechet_matches_block_triangular_oracle(case, spectrum, dtype):
    ours, oracle, scales = CASES[case]
    E = symmetric_direction(4, seed=5, dtype=dtype)
    G = symmetric_direction(4, seed=6, dtype=dtype)
    for s in scales:
        A, _, _ = matrix_with_spectrum(torch.tensor(SPECTRA[spectrum]) * s, seed=3, dtype=dtype)
        ref = block_triangular_frechet(A, E, _quiet(oracle))
        _, jvp = torch.func.jvp(ours, (A,), (E,))
        assert relative_error(jvp, ref) < 1e-8, (s, relative_error(jvp, ref))
        # VJP against the JVP by adjointness: <G, L(E)> = <L*(G), E>
        Ar = A.clone().requires_grad_()
        (vjp,) = torch.autograd.grad(ours(Ar), Ar, G)
        lhs = torch.sum(G.conj() * jvp).real
        rhs = torch.sum(vjp.conj() * E).real
        assert abs(float(lhs - rhs)) <= 1e-10 * float(vjp.abs().max() * E.abs().sum()), s
        assert bool(torch.isfinite(vjp).all())


def test_vjp_equals_divided_difference_reference_at_exact_degeneracy():
    # exact spectrum and eigenvectors from the construction: independent of eigh
    A, w, Q = matrix_with_spectrum([0.25, 0.25, 0.25, 4.0, 4.0], seed=11)
    B = symmetric_direction(5, seed=12)
    D = function_divided_differences(w, torch.sqrt(w), 0.5 / torch.sqrt(w))
    ref = Q @ (D * (Q.mT @ B @ Q)) @ Q.mT
    A.requires_grad_()
    (g,) = torch.autograd.grad((eg.sqrtm(A) * B).sum(), A)
    assert relative_error(g, ref) < 1e-12


FUNCS = {
    "sqrtm": eg.sqrtm,
    "invsqrtm": eg.invsqrtm,
    "logm": eg.logm,
    "expm": eg.expm,
    "powm1.5": lambda A: eg.powm(A, 1.5),
    "powm-2": lambda A: eg.powm(A, -2),
    "clamp": lambda A: eg.clamp_eigenvalues(A, min=0.8, max=2.5),
    "user": lambda A: eg.matrix_function(A, lambda x: x * torch.exp(-x)),
    "trace-log": lambda A: eg.trace_function(A, torch.log),
    "trace-entropy": lambda A: eg.trace_function(A, lambda x: -x * torch.log(x)),
}


@pytest.mark.parametrize("dtype", [F64, C128])
@pytest.mark.parametrize("name", list(FUNCS))
def test_gradcheck_and_gradgradcheck(name, dtype):
    A, _, _ = matrix_with_spectrum([0.5, 1.3, 2.9], seed=1, dtype=dtype)
    A.requires_grad_()

    def fn(X):
        return FUNCS[name](herm(X))

    assert torch.autograd.gradcheck(fn, (A,), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(fn, (A,), check_fwd_over_rev=True, fast_mode=True)


@pytest.mark.parametrize("spectrum", [[1.0, 1.0, 3.0], [1.5, 1.5, 1.5], [1.0, 1.0 + 1e-9, 3.0]])
@pytest.mark.parametrize("name", ["sqrtm", "logm", "user", "trace-log"])
def test_hessian_exact_at_degeneracy(name, spectrum):
    """Second divided differences: the Hessian matches differences of exact gradients."""
    A, _, _ = matrix_with_spectrum(spectrum, seed=4)
    B = symmetric_direction(3, seed=8)
    fn = FUNCS[name]

    def loss(X):
        Y = fn(herm(X))
        return (Y * B).sum() if Y.ndim else Y

    E = symmetric_direction(3, seed=9)
    grad = torch.func.grad(loss)
    _, hvp = torch.func.jvp(grad, (A,), (E,))  # forward-over-reverse
    H = torch.func.hessian(loss)(A)
    hvp2 = (H * E).sum(dim=(-2, -1))
    h = 1e-5
    fd = (grad(A + h * E) - grad(A - h * E)) / (2 * h)
    assert bool(torch.isfinite(H).all())
    assert relative_error(hvp, fd) < 1e-6
    assert relative_error(hvp2, hvp) < 1e-10
    # double backward agrees too
    Ar = A.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(Ar), Ar, create_graph=True)
    (hv,) = torch.autograd.grad(g, Ar, E)
    assert relative_error(herm(hv), hvp) < 1e-10


def test_third_derivative_raises():
    A, _, _ = matrix_with_spectrum([1.0, 2.0], seed=1)
    A.requires_grad_()
    Y = eg.sqrtm(A)
    (g,) = torch.autograd.grad(Y.sum(), A, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), A, create_graph=True)
    with pytest.raises(NotImplementedError, match="third divided differences"):
        torch.autograd.grad(h.sum(), A)


def test_no_nan_anywhere_on_degenerate_set():
    for spectrum in SPECTRA.values():
        A, _, _ = matrix_with_spectrum(spectrum, seed=2)
        A.requires_grad_()
        for name, fn in FUNCS.items():
            if name == "clamp":
                continue
            out = fn(A)
            loss = out.sum() if out.ndim else out
            (g,) = torch.autograd.grad(loss, A, create_graph=True)
            (h,) = torch.autograd.grad((g * g).sum(), A)
            assert bool(torch.isfinite(g).all() & torch.isfinite(h).all()), name


def test_identity_closed_forms():
    eye = torch.eye(3, dtype=F64)
    E = symmetric_direction(3, seed=1)
    for fn, scale in [(eg.sqrtm, 0.5), (eg.logm, 1.0), (eg.expm, torch.e), (eg.invsqrtm, -0.5)]:
        _, t = torch.func.jvp(fn, (eye,), (E,))
        assert relative_error(t, scale * E) < 1e-14


def test_forward_values_match_scipy():
    A, _, _ = matrix_with_spectrum([0.1, 0.1, 2.0, 7.0], seed=5)
    a = A.numpy()
    assert relative_error(eg.sqrtm(A), torch.as_tensor(sl.sqrtm(a))) < 1e-13
    assert relative_error(eg.logm(A), torch.as_tensor(sl.logm(a).real)) < 1e-12
    assert relative_error(eg.expm(A), torch.as_tensor(sl.expm(a))) < 1e-12
    assert relative_error(eg.powm(A, -1), torch.linalg.inv(A)) < 1e-12
    assert relative_error(eg.powm(A, 2), A @ A) < 1e-13
    assert relative_error(eg.invsqrtm(A) @ eg.sqrtm(A), torch.eye(4, dtype=F64)) < 1e-13


def test_batch_vmap_and_loop_agree():
    A, _, _ = matrix_with_spectrum([1.0, 1.0, 2.0], seed=3, batch=(2, 3))
    G = symmetric_direction(3, seed=4, batch=(2, 3))
    Ar = A.clone().requires_grad_()
    (g,) = torch.autograd.grad(eg.sqrtm(Ar), Ar, G)
    for i in range(2):
        for j in range(3):
            Aij = A[i, j].clone().requires_grad_()
            (gij,) = torch.autograd.grad(eg.sqrtm(Aij), Aij, G[i, j])
            assert relative_error(g[i, j], gij) < 1e-13
    flat, Gf = A.reshape(6, 3, 3), G.reshape(6, 3, 3)
    gv = torch.func.vmap(torch.func.grad(lambda X, H: (eg.sqrtm(X) * H).sum()))(flat, Gf)
    assert relative_error(gv, herm(g).reshape(6, 3, 3)) < 1e-13
    assert relative_error(torch.func.vmap(eg.logm)(flat), eg.logm(flat)) < 1e-15


def test_empty_and_one_by_one():
    assert eg.sqrtm(torch.zeros(0, 3, 3, dtype=F64)).shape == (0, 3, 3)
    assert eg.expm(torch.zeros(2, 0, 0, dtype=F64)).shape == (2, 0, 0)
    a = torch.tensor([[4.0]], dtype=F64, requires_grad=True)
    eg.sqrtm(a).sum().backward()
    assert float(a.grad) == pytest.approx(0.25)
    e = torch.zeros(2, 0, 0, dtype=F64, requires_grad=True)
    eg.logm(e + torch.zeros_like(e)).sum().backward()
    assert e.grad.shape == (2, 0, 0)


def test_float32():
    A, _, _ = matrix_with_spectrum([1.0, 1.0, 2.0], seed=3, dtype=torch.float32)
    E = symmetric_direction(3, seed=5, dtype=torch.float32)
    ref = block_triangular_frechet(A.double(), E.double(), _quiet(sl.sqrtm))
    _, t = torch.func.jvp(eg.sqrtm, (A,), (E,))
    assert t.dtype == torch.float32
    assert relative_error(t.double(), ref) < 1e-5
    _, t = torch.func.jvp(lambda X: eg.matrix_function(X, torch.sqrt), (A,), (E,))
    assert relative_error(t.double(), ref) < 1e-4


def test_clamp_kink_convention_and_rectification():
    A, _, Q = matrix_with_spectrum([-1.0, 0.0, 0.5, 2.0], seed=3)
    Ar = A.clone().requires_grad_()
    Y = eg.clamp_eigenvalues(Ar, min=0.0)
    w = torch.linalg.eigvalsh(Y.detach())
    assert torch.allclose(w, torch.tensor([0.0, 0.0, 0.5, 2.0], dtype=F64), atol=1e-14)
    (g,) = torch.autograd.grad(Y.trace(), Ar)
    # d tr clamp(A) = Σ f'(w_i): 0 below, 1 at the kink (as torch.clamp), 1 inside
    P = Q[:, 1:] @ Q[:, 1:].mT
    assert relative_error(g, P) < 1e-12
    with pytest.raises(InputError, match="min <= max"):
        eg.clamp_eigenvalues(A, min=2.0, max=1.0)
    with pytest.raises(InputError, match="at least one"):
        eg.clamp_eigenvalues(A)


def test_domain_errors_name_the_eigenvalue():
    A, _, _ = matrix_with_spectrum([-0.25, 1.0, 2.0], seed=1)
    with pytest.raises(DomainError, match=r"logm.*-0\.25.*clamp_eigenvalues"):
        eg.logm(A)
    with pytest.raises(DomainError, match=r"sqrtm.*-0\.25.*A \+ s I"):
        eg.sqrtm(A)
    with pytest.raises(DomainError, match=r"invsqrtm"):
        eg.invsqrtm(A)
    with pytest.raises(DomainError, match=r"powm"):
        eg.powm(A, 0.5)
    with pytest.raises(DomainError, match=r"f is not finite at eigenvalue -0\.25"):
        eg.matrix_function(A, torch.log)
    batch = torch.stack([torch.eye(3, dtype=F64), A])
    with pytest.raises(DomainError, match=r"batch index \(1,\)"):
        eg.logm(batch)
    with pytest.raises(DomainError, match="overflows"):
        eg.expm(torch.diag(torch.tensor([1000.0, 0.0], dtype=F64)))
    with pytest.raises(DomainError, match="invertible"):
        eg.powm(torch.diag(torch.tensor([0.0, 1.0], dtype=F64)), -1)
    # sqrt at 0: the value is defined, the derivative is not
    Z = torch.diag(torch.tensor([0.0, 1.0], dtype=F64)).requires_grad_()
    Y = eg.sqrtm(Z)
    with pytest.raises(DomainError, match="unbounded at eigenvalue 0"):
        Y.sum().backward()


def test_bad_inputs():
    with pytest.raises(NotHermitianError, match=r"eigengrad\.sqrtm"):
        eg.sqrtm(torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=F64))
    with pytest.raises(InputError, match="callable"):
        eg.matrix_function(torch.eye(2), 3.0)
    with pytest.raises(InputError, match="same shape"):
        eg.matrix_function(torch.eye(2), lambda x: x.sum())
    with pytest.raises(InputError, match="finite real exponent"):
        eg.powm(torch.eye(2), float("nan"))
    with pytest.raises(InputError, match="real-valued"):
        eg.matrix_function(torch.eye(2, dtype=F64), lambda x: x.to(C128))


# Property test: clustered spectra at random scales; JVP against the oracle, adjointness, no NaN.


@settings(derandomize=True, max_examples=12, deadline=None)
@given(
    levels=st.lists(st.integers(1, 4), min_size=2, max_size=5),
    log_scale=st.integers(-6, 6),
    log_gap=st.integers(-15, -3),
    seed=st.integers(0, 1000),
)
def test_property_clustered_spectra(levels, log_scale, log_gap, seed):
    w = torch.tensor(sorted(levels), dtype=F64)
    w[-1] = w[-1] + 10.0**log_gap  # a near pair when the last levels coincide
    w = w * 10.0**log_scale
    n = w.shape[0]
    A, _, _ = matrix_with_spectrum(w, seed=seed)
    E = symmetric_direction(n, seed=seed + 1)
    G = symmetric_direction(n, seed=seed + 2)
    for ours, oracle in ((eg.sqrtm, sl.sqrtm), (eg.logm, sl.logm)):
        _, jvp = torch.func.jvp(ours, (A,), (E,))
        ref = block_triangular_frechet(A, E, _quiet(oracle))
        assert relative_error(jvp, ref) < 1e-8
        Ar = A.clone().requires_grad_()
        (vjp,) = torch.autograd.grad(ours(Ar), Ar, G)
        assert bool(torch.isfinite(vjp).all())
        lhs, rhs = torch.sum(G * jvp), torch.sum(vjp * E)
        assert abs(float(lhs - rhs)) <= 1e-10 * float(vjp.abs().max() * E.abs().sum())


def test_explicit_derivatives_and_constant_function():
    A, _, _ = matrix_with_spectrum([1.0, 1.0, 2.5], seed=2)
    E = symmetric_direction(3, seed=3)

    def ours(X):
        return eg.matrix_function(X, torch.exp, df=torch.exp, d2f=torch.exp)

    _, t = torch.func.jvp(ours, (A,), (E,))
    assert relative_error(t, block_triangular_frechet(A, E, sl.expm)) < 1e-12
    _, t = torch.func.jvp(lambda X: eg.matrix_function(X, torch.ones_like), (A,), (E,))
    assert float(t.abs().max()) == 0.0
    _, t = torch.func.jvp(lambda X: eg.matrix_function(X, lambda x: 3 * x + 1), (A,), (E,))
    assert relative_error(t, 3 * E) < 1e-14


@pytest.mark.parametrize("name", ["sqrtm", "trace-log", "projector"])
def test_all_second_order_compositions_agree(name):
    """fwd-over-fwd, rev-over-fwd, fwd-over-rev and rev-over-rev Hessians at a double eigenvalue.

    (A custom Function's jvp output is seen by outer forward levels only if it is itself a
    Function output; plain ops there would make jacfwd(jacfwd) silently zero.)
    """
    A, _, _ = matrix_with_spectrum([1.0, 1.0, 3.0], seed=1)
    B = symmetric_direction(3, seed=2)
    fns = {**FUNCS, "projector": lambda X: eg.spectral_projector(X, 2)}

    def loss(X):
        Y = fns[name](herm(X))
        return (Y * B).sum() if Y.ndim else Y

    F, R = torch.func.jacfwd, torch.func.jacrev
    H = [F(F(loss))(A), R(F(loss))(A), F(R(loss))(A), R(R(loss))(A)]
    assert float(H[0].abs().max()) > 1e-2
    for other in H[1:]:
        assert relative_error(other, H[0]) < 1e-12


@pytest.mark.parametrize("name", ["sqrtm", "trace-log"])
def test_third_order_forward_raises(name):
    A, _, _ = matrix_with_spectrum([1.0, 2.0, 3.0], seed=1)
    E = symmetric_direction(3, seed=2)
    fn = FUNCS[name]

    def loss(X):
        Y = fn(X)
        return Y.sum() if Y.ndim else Y

    def d(g):
        return lambda X: torch.func.jvp(g, (X,), (E,))[1]

    with pytest.raises(NotImplementedError, match="third divided differences"):
        d(d(d(loss)))(A)
    third = torch.func.jacrev(torch.func.jacfwd(torch.func.jacrev(loss)))
    if name == "sqrtm":
        with pytest.raises(NotImplementedError, match="third divided differences"):
            third(A)
    else:  # the third derivative of tr f(A) is the second of f'(A): still exact
        h = 1e-4
        hess = torch.func.hessian(loss)
        fd = (hess(A + h * E) - hess(A - h * E)) / (2 * h)
        assert relative_error((third(A) * E).sum(dim=(-2, -1)), fd) < 1e-6


@pytest.mark.parametrize(
    ("spectrum", "p"), [((10.0, 2.0), 400.0), ((1e-2, 2.0), -400.0), ((3.0, -2.0), 700.0)]
)
def test_powm_overflow_raises(spectrum, p):
    # x^p beyond the largest float used to come back as inf and NaN entries, silently
    A = torch.diag(torch.tensor(spectrum, dtype=F64))
    with pytest.raises(DomainError, match=r"overflows 1\.8e\+308 at eigenvalue"):
        eg.powm(A, p)
    eg.powm(A, p / 10)  # representable: no error


def test_expm_just_below_overflow_is_finite():
    # e^709.5 = 1.355e308 is representable; the Hermitian symmetrisation (X + X^H) / 2 used to
    # overflow on the way. Also through a rotation (off-diagonal entries near the limit).
    A = torch.tensor([[709.5]], dtype=F64)
    assert float(eg.expm(A)) == pytest.approx(1.3550e308, rel=1e-4)
    Q = torch.linalg.qr(torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(2)))[0]
    B = Q @ torch.diag(torch.tensor([709.5, 1.0, 0.0], dtype=F64)) @ Q.T
    Y = eg.expm(B)
    assert bool(torch.isfinite(Y).all())
    ref = Q @ torch.diag(torch.tensor([709.5, 1.0, 0.0], dtype=F64).exp()) @ Q.T
    assert relative_error(Y, ref) < 1e-12


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ({"min": float("nan")}, "finite or -inf"),
        ({"max": float("nan")}, "finite or inf"),
        ({"min": "1"}, "received min='1'"),
        ({"min": float("inf")}, "finite or -inf"),
        ({"max": float("-inf")}, "finite or inf"),
    ],
)
def test_clamp_bounds_are_validated(bounds, match):
    # a NaN bound used to give an all-NaN matrix and a misleading backward error
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    with pytest.raises(InputError, match=match):
        eg.clamp_eigenvalues(A, **bounds)
    torch.testing.assert_close(
        eg.clamp_eigenvalues(A, min=float("-inf"), max=2.5), eg.clamp_eigenvalues(A, max=2.5)
    )


def test_powm_exponent_as_numpy_scalar():
    import numpy as np

    A = torch.diag(torch.tensor([2.0, 3.0], dtype=F64))
    torch.testing.assert_close(eg.powm(A, np.int64(2)), eg.powm(A, 2))
    torch.testing.assert_close(eg.powm(A, np.float32(0.5)), eg.sqrtm(A))
    with pytest.raises(InputError, match="finite real exponent"):
        eg.powm(A, torch.tensor(2.0))
