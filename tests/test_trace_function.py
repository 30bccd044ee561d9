"""eg.trace_function (gradient f'(A)); second-order cases run in test_matrix_function.py."""

from __future__ import annotations

import warnings

import pytest
import torch

import eigengrad as eg
from eigengrad.exceptions import DomainError
from eigengrad.testing import matrix_with_spectrum, relative_error

with warnings.catch_warnings():  # torch 2.13 deprecation chatter on torch.func.jvp's first use
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch._decomp.decompositions_for_jvp

F64 = torch.float64


def test_trace_function_gradient_is_f_prime_of_A():
    A, w, _ = matrix_with_spectrum([0.5, 0.5, 2.0], seed=6)
    A.requires_grad_()
    (g,) = torch.autograd.grad(eg.trace_function(A, torch.log), A)
    assert relative_error(g, torch.linalg.inv(A.detach())) < 1e-13
    s = eg.trace_function(A, lambda x: -x * torch.log(x))  # von Neumann entropy
    assert float(s.detach()) == pytest.approx(float(-(w * torch.log(w)).sum()))
    _, t = torch.func.jvp(
        lambda X: eg.trace_function(X, torch.log), (A.detach(),), (torch.eye(3, dtype=F64),)
    )
    assert float(t) == pytest.approx(float((1 / w).sum()))


def test_log_det_hessian_at_identity_and_domain():
    eye = torch.eye(3, dtype=F64)
    H = torch.func.hessian(lambda X: eg.trace_function((X + X.mT) / 2, torch.log))(eye)
    E = torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    E = E + E.mT
    # d² log det(I)[E, E] = -tr(E²)
    assert float((H * E).sum(dim=(-2, -1)).mul(E).sum()) == pytest.approx(-float((E @ E).trace()))
    with pytest.raises(DomainError, match="trace_function"):
        eg.trace_function(-eye, torch.log)
    batch = torch.stack([eye, 2 * eye])
    assert eg.trace_function(batch, torch.log).shape == (2,)


def test_backward_domain_error_names_the_derivative():
    # x log x is finite at 0, its derivative is not: the message used to blame f
    Z = torch.diag(torch.tensor([0.0, 1.0, 2.0], dtype=F64)).requires_grad_()
    value = eg.trace_function(Z, lambda x: torch.special.xlogy(x, x))
    with pytest.raises(DomainError, match=r"f' is not finite at eigenvalue 0"):
        value.backward()
