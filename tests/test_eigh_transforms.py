"""eg.eigh under torch.func transforms and torch.compile."""

import warnings

import pytest
import torch
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vjp, vmap

import eigengrad as eg
from eigengrad.testing import matrix_with_spectrum


def _loss(solver):
    def f(A):
        A = (A + A.mT) / 2
        w, V = solver(A)
        return (w * w.cos()).sum() + (V[:, 1] ** 4).sum() + (V.abs() ** 3)[0].sum()

    return f


A0 = matrix_with_spectrum([-1.5, -0.2, 0.9, 2.4], seed=3)[0]


@pytest.mark.parametrize("transform", [grad, jacrev, jacfwd, hessian])
def test_transforms_agree_with_native(transform):
    torch.testing.assert_close(
        transform(_loss(eg.eigh))(A0), transform(_loss(torch.linalg.eigh))(A0)
    )


def test_vjp_and_jvp_agree_with_native():
    dA = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, fn = vjp(lambda A: eg.eigh((A + A.mT) / 2).eigenvalues, A0)
    _, fn_n = vjp(lambda A: torch.linalg.eigh((A + A.mT) / 2).eigenvalues, A0)
    g = torch.arange(4.0, dtype=torch.float64)
    torch.testing.assert_close(fn(g), fn_n(g))
    torch.testing.assert_close(
        jvp(_loss(eg.eigh), (A0,), (dA,)), jvp(_loss(torch.linalg.eigh), (A0,), (dA,))
    )


def test_vmap_and_per_sample_gradients():
    batch = torch.stack([A0, 2 * A0, A0 + torch.eye(4, dtype=torch.float64)])
    torch.testing.assert_close(vmap(_loss(eg.eigh))(batch), vmap(_loss(torch.linalg.eigh))(batch))
    torch.testing.assert_close(
        vmap(grad(_loss(eg.eigh)))(batch), vmap(grad(_loss(torch.linalg.eigh)))(batch)
    )
    # in_dims other than 0
    moved = batch.movedim(0, 2)
    torch.testing.assert_close(vmap(eg.eigvalsh, in_dims=2)(moved), torch.linalg.eigvalsh(batch))


def test_policy_warnings_fire_under_vmap_and_jacrev():
    eye = torch.eye(3, dtype=torch.float64)
    with pytest.warns(eg.SubgradientWarning):
        g = vmap(grad(lambda A: eg.eigvalsh(A)[-1]))(torch.stack([eye, 2 * eye]))
    torch.testing.assert_close(g, torch.stack([eye, eye]) / 3)
    with pytest.warns(eg.GaugeDependenceWarning, match="multiplicity 3"):
        jac = jacrev(lambda A: eg.eigh(A).eigenvectors[:, 0])(eye)
    assert bool(torch.isfinite(jac).all())
    with pytest.raises(eg.GaugeDependenceError):
        jacrev(lambda A: eg.eigh(A, gauge="raise").eigenvectors[:, 0])(eye)


def test_forward_mode_cluster_derivative_under_jacfwd():
    eye = torch.eye(3, dtype=torch.float64)
    J = jacfwd(lambda A: eg.eigvalsh((A + A.mT) / 2))(eye)
    # d lambda_max along E_00 is 1 (one-sided), along -E_00 is 0: jacfwd probes +E_ij
    assert J.shape == (3, 3, 3)
    assert bool(torch.isfinite(J).all())
    torch.testing.assert_close(J[-1, 0, 0], torch.tensor(1.0, dtype=torch.float64))


# dynamo itself reads .grad of non-leaf tensors while tracing (a torch-internal UserWarning)
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_torch_compile_runs_and_still_warns_on_later_degenerate_input():
    compiled = torch.compile(lambda A: eg.eigh(A).eigenvectors[:, 0].sum(), backend="eager")
    A = A0.clone().requires_grad_()
    compiled(A).backward()
    ref = torch.func.grad(lambda A: eg.eigh(A).eigenvectors[:, 0].sum())(A0)
    torch.testing.assert_close(A.grad, ref)
    eye = torch.eye(4, dtype=torch.float64, requires_grad=True)
    with pytest.warns(eg.GaugeDependenceWarning):
        compiled(eye).backward()
    assert bool(torch.isfinite(eye.grad).all())


def test_double_backward_at_separated_spectrum_matches_native():
    def second(solver):
        A = A0.clone().requires_grad_()
        (g,) = torch.autograd.grad(_loss(solver)(A), A, create_graph=True)
        (h,) = torch.autograd.grad((g * g).sum(), A)
        return h

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(second(eg.eigh), second(torch.linalg.eigh))


@pytest.mark.parametrize("spectrum", [[1.0, 1.0 + 1e-5, 3.0], [-1.0, 0.5, 2.0]])
def test_all_second_order_compositions_agree(spectrum):
    # [1, 1 + 1e-5, 3] is unresolved: eigengrad's own rules (not torch's node) are exercised
    A, _, _ = matrix_with_spectrum(spectrum, seed=1)

    def make(solver):
        def f(A):
            A = (A + A.mT) / 2
            w, V = solver(A)
            return w[-1] + V[0, 2] ** 2 + w[0] ** 3

        return f

    H_ref = hessian(make(torch.linalg.eigh))(A)
    for T in (
        lambda f: jacfwd(jacfwd(f)),
        hessian,
        lambda f: jacrev(jacrev(f)),
        lambda f: jacrev(jacfwd(f)),
    ):
        torch.testing.assert_close(T(make(eg.eigh))(A), H_ref, rtol=1e-9, atol=1e-9)


def test_second_order_forward_complex():
    A, _, _ = matrix_with_spectrum([1.0, 2.0, 3.5], seed=2, dtype=torch.complex128)
    Y0 = A.imag.clone()

    def make(solver):
        def f(X):
            M = torch.complex(X, Y0)
            w, V = solver((M + M.mH) / 2)
            return w[0] ** 2 + (V.abs() ** 4).sum()

        return f

    H_ref = hessian(make(torch.linalg.eigh))(A.real)
    torch.testing.assert_close(jacfwd(jacfwd(make(eg.eigh)))(A.real), H_ref)


def test_second_order_forward_at_a_cluster_raises_instead_of_a_wrong_value():
    eye = torch.eye(3, dtype=torch.float64)
    with pytest.raises(NotImplementedError, match="does not exist in general"):
        jacfwd(jacfwd(lambda A: eg.eigvalsh((A + A.mT) / 2)[-1]))(eye)
