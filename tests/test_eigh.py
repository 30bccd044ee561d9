"""eg.eigh / eg.eigvalsh on well-separated spectra: agreement with torch, gradchecks, shapes."""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import eigengrad as eg
from eigengrad._rules._gauge import fix_gauge
from eigengrad.testing import matrix_with_spectrum, random_unitary

DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]


def _hermitian(n, dtype, batch=(), seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.empty((), dtype=dtype).real.dtype
    X = torch.randn(*batch, n, n, generator=gen, dtype=real)
    if dtype.is_complex:
        X = torch.complex(X, torch.randn(*batch, n, n, generator=gen, dtype=real))
    return (X + X.mH) / 2


def _herm_wrap(f):
    return lambda A: f((A + A.mH) / 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_forward_matches_torch(dtype, batch):
    A = _hermitian(6, dtype, batch)
    w, V = eg.eigh(A)
    w_ref, V_ref = torch.linalg.eigh(A)
    tol = 1e-4 if dtype in (torch.float32, torch.complex64) else 1e-12
    torch.testing.assert_close(w, w_ref, atol=tol, rtol=tol)
    torch.testing.assert_close(V.abs(), V_ref.abs(), atol=tol, rtol=tol)
    torch.testing.assert_close(eg.eigvalsh(A), w_ref, atol=tol, rtol=tol)


def test_result_is_named_like_torch():
    A = _hermitian(3, torch.float64)
    result = eg.eigh(A)
    assert isinstance(result, eg.EighResult)
    assert result.eigenvalues is result[0] and result.eigenvectors is result[1]


@pytest.mark.parametrize("UPLO", ["L", "U"])
def test_uplo_reads_one_triangle_like_torch(UPLO):
    A = _hermitian(4, torch.float64)
    noisy = (
        A + torch.triu(torch.full_like(A, 10.0), 1)
        if UPLO == "L"
        else A + torch.tril(torch.full_like(A, 10.0), -1)
    )
    w = eg.eigvalsh(noisy, UPLO, check_hermitian=False)
    torch.testing.assert_close(w, torch.linalg.eigvalsh(A))


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gradients_match_native_autograd(dtype):
    A = _hermitian(6, dtype, (2,), seed=3)
    C = _hermitian(6, dtype, (2,), seed=4)

    def loss(solver):
        def f(A):
            w, V = solver(A)
            # phase-invariant eigenvector loss: |V|^2 weighted, plus eigenvalues
            return (w.sin() * w).sum() + (V.abs() ** 2 * C.real).sum() + (V.abs() ** 3).sum()

        return f

    g_eg = torch.func.grad(_herm_wrap(loss(eg.eigh)))(A)
    g_nat = torch.func.grad(_herm_wrap(loss(torch.linalg.eigh)))(A)
    torch.testing.assert_close(g_eg, g_nat, rtol=1e-10, atol=1e-12)
    # forward mode too
    dA = _hermitian(6, dtype, (2,), seed=5)
    _, t_eg = torch.func.jvp(_herm_wrap(loss(eg.eigh)), (A,), (dA,))
    _, t_nat = torch.func.jvp(_herm_wrap(loss(torch.linalg.eigh)), (A,), (dA,))
    torch.testing.assert_close(t_eg, t_nat, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gradcheck_and_gradgradcheck(dtype):
    A, _, _ = matrix_with_spectrum([-2.0, -0.5, 0.7, 1.9, 3.1], seed=1, dtype=dtype)
    A = A.requires_grad_()

    def f(A):
        w, V = eg.eigh((A + A.mH) / 2)
        return w, V.abs()  # gauge-invariant outputs (phases of V are arbitrary)

    assert gradcheck(f, (A,), check_forward_ad=True, check_backward_ad=True)
    assert gradgradcheck(f, (A,), check_fwd_over_rev=True, check_rev_over_rev=True)


def test_gradcheck_eigvalsh_batched():
    A, _, _ = matrix_with_spectrum([0.1, 1.0, 2.5], seed=2, batch=(2,))
    A = A.requires_grad_()
    f = _herm_wrap(eg.eigvalsh)
    assert gradcheck(f, (A,), check_forward_ad=True)
    assert gradgradcheck(f, (A,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3, 3), (2, 0, 0), (0, 0), (4, 0, 5, 5)])
def test_empty_inputs(dtype, shape):
    A = torch.zeros(shape, dtype=dtype, requires_grad=True)
    w, V = eg.eigh(A)
    assert w.shape == shape[:-1] and V.shape == shape
    (w.sum() + V.abs().sum()).backward()
    assert A.grad.shape == shape


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_by_one(dtype):
    A = torch.full((2, 1, 1), 3.0, dtype=dtype, requires_grad=True)
    w, V = eg.eigh(A)
    assert w.tolist() == [[3.0], [3.0]]
    (w.sum() + V.abs().sum()).backward()
    torch.testing.assert_close(A.grad, torch.ones_like(A))


def test_float32_gradients_are_close_to_float64():
    A = _hermitian(8, torch.float64, seed=9)

    def loss(A):
        w, V = eg.eigh(A)
        return (w**2).sum() + (V**4).sum()

    A64 = A.clone().requires_grad_()
    A32 = A.float().requires_grad_()
    loss(A64).backward()
    loss(A32).backward()
    torch.testing.assert_close(A32.grad.double(), A64.grad, rtol=1e-3, atol=1e-3)


def test_fix_gauge_makes_largest_entry_real_positive_and_is_differentiable():
    Q = random_unitary(4, seed=5, dtype=torch.complex128)
    A = Q @ torch.diag(torch.tensor([1.0, 2.0, 3.5, 5.0], dtype=torch.complex128)) @ Q.mH
    _, V = eg.eigh(A, fix_gauge=True)
    pivot = V.gather(-2, V.abs().argmax(-2, keepdim=True))
    assert torch.allclose(pivot.imag, torch.zeros_like(pivot.imag), atol=1e-14)
    assert bool((pivot.real > 0).all())
    # the same eigenvectors whatever phase the solver returned
    phases = torch.exp(1j * torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(fix_gauge(V * phases), V)

    # a phase-dependent loss of the fixed vectors is well defined: gradcheck, no warning
    def f(A):
        return eg.eigh((A + A.mH) / 2, fix_gauge=True).eigenvectors.real

    assert gradcheck(f, (A.clone().requires_grad_(),), check_forward_ad=True)


def test_large_and_small_scales_are_exact():
    for scale in (1e-100, 1e100):
        A, _, Q = matrix_with_spectrum(
            torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64) * scale, seed=4
        )
        A = A.requires_grad_()
        eg.eigvalsh(A)[-1].backward()
        ref = Q[:, -1:] @ Q[:, -1:].mT
        torch.testing.assert_close(A.grad, ref, rtol=1e-12, atol=1e-12)


def test_native_route_and_rule_agree_on_resolved_real_spectra():
    """Resolved real spectra keep torch's node; it must coincide with eigengrad's own rule."""
    from eigengrad import _eigh

    A, _, _ = matrix_with_spectrum([-1.0, 0.3, 2.0, 2.5], seed=6)
    C = _hermitian(4, torch.float64, seed=7)

    def loss(w, V):
        return (w**3).sum() + (V**3 * C).sum()

    def grads(decompose):
        X = A.clone().requires_grad_()
        w, V = decompose(X)
        (g,) = torch.autograd.grad(loss(w, V), X, create_graph=True)
        (h,) = torch.autograd.grad((g**2).sum(), X)
        return g, h

    def rule(X):
        return _eigh._Eigh.apply(X, _eigh._options(X, "L", None, 0.0, "warn", True, "test"))

    native_route = grads(eg.eigh)
    rule_route = grads(rule)
    assert eg.eigh(A.clone().requires_grad_())[0].grad_fn.name() == "LinalgEighBackward0"
    for a, b in zip(native_route, rule_route, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_unresolved_or_clustered_real_spectra_use_the_rule():
    for w in ([0.0, 1.0, 1.0 + 1e-9, 2.0], [0.0, 1.0, 1.0, 2.0]):
        A, _, _ = matrix_with_spectrum(w, seed=1)
        out = eg.eigh(A.requires_grad_())[0]
        assert out.grad_fn.name() == "_EighBackward"


def test_eigvalsh_without_derivatives_skips_eigenvectors_but_still_checks():
    A = _hermitian(5, torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(eg.eigvalsh(A), torch.linalg.eigvalsh(A))
        with pytest.raises(eg.exceptions.NotHermitianError):
            eg.eigvalsh(A + torch.triu(torch.ones_like(A), 1))
    # forward-mode dual tensors still get the derivative
    import torch.autograd.forward_ad as fwAD

    dA = _hermitian(5, torch.float64, seed=3)
    with fwAD.dual_level():
        out = eg.eigvalsh(fwAD.make_dual(A, dA))
        tangent = fwAD.unpack_dual(out).tangent
    _, ref = torch.func.jvp(torch.linalg.eigvalsh, (A,), (dA,))
    torch.testing.assert_close(tangent, ref)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex128])
def test_cuda_matches_cpu(dtype):
    A, _, _ = matrix_with_spectrum([0.0, 1.0, 1.0, 2.0, 3.0], seed=2, dtype=dtype)
    B = _hermitian(5, dtype, seed=3)
    grads = []
    for device in ("cpu", "cuda"):
        X = A.to(device).requires_grad_()
        _, V = eg.eigh(X)
        loss = ((V[:, :3] @ V[:, :3].mH) * B.to(device).conj()).sum().real
        grads.append(torch.autograd.grad(loss, X)[0].cpu())
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(grads[1], grads[0], rtol=tol, atol=tol)


def test_float32_projector_at_exact_degeneracy():
    import warnings

    from eigengrad.testing import projector_loss_gradient, relative_error

    A, w, Q = matrix_with_spectrum([-1.0, 0.5, 0.5, 2.0], seed=5, dtype=torch.float64)
    B = _hermitian(4, torch.float64, seed=8)
    X = A.float().requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, V = eg.eigh(X)
        loss = ((V[:, :3] @ V[:, :3].mT) * B.float()).sum()
        (g,) = torch.autograd.grad(loss, X)
    ref = projector_loss_gradient(w, Q, torch.tensor([True, True, True, False]), B)
    assert relative_error(g.double(), ref) < 1e-4
