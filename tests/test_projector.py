"""eg.spectral_projector (MATH.md section 5)."""

from __future__ import annotations

import warnings

import pytest
import torch

import eigengrad as eg
from eigengrad.exceptions import InputError, SplitClusterError
from eigengrad.testing import (
    matrix_with_spectrum,
    relative_error,
    selection_gradient_reference,
    symmetric_direction,
)

with warnings.catch_warnings():  # torch 2.13 deprecation chatter on torch.func.jvp's first use
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch._decomp.decompositions_for_jvp

F64, C128 = torch.float64, torch.complex128


def herm(X: torch.Tensor) -> torch.Tensor:
    return (X + X.mH) / 2


SPECTRUM = [-2.0, -1.0, -1.0, 0.5, 0.5, 0.5, 2.0, 3.0]  # a double and a triple eigenvalue
SELECTIONS = {
    "k=3": ({"k": 3}, [0, 1, 2]),
    "k=6": ({"k": 6}, [0, 1, 2, 3, 4, 5]),
    "largest k=5": ({"k": 5, "largest": True}, [3, 4, 5, 6, 7]),
    "indices (1, 6)": ({"indices": (1, 6)}, [1, 2, 3, 4, 5]),
    "interval": ({"interval": (-1.5, 1.0)}, [1, 2, 3, 4, 5]),
    "empty": ({"k": 0}, []),
    "all": ({"k": 8}, list(range(8))),
}


@pytest.mark.parametrize("dtype", [F64, C128])
@pytest.mark.parametrize("name", list(SELECTIONS))
def test_projector_and_gradient_at_degenerate_clusters(name, dtype):
    kwargs, chosen = SELECTIONS[name]
    A, w, Q = matrix_with_spectrum(SPECTRUM, seed=4, dtype=dtype)
    selected = torch.zeros(8, dtype=torch.bool)
    selected[chosen] = True
    P_ref = Q[:, selected] @ Q[:, selected].mH
    G = symmetric_direction(8, seed=7, dtype=dtype)
    Ar = A.clone().requires_grad_()
    P_out = eg.spectral_projector(Ar, **kwargs)
    P = P_out.detach()
    assert relative_error(P, P_ref) < 1e-13 if chosen else float(P.abs().max()) < 1e-15
    (g,) = torch.autograd.grad(P_out, Ar, G)
    ref = selection_gradient_reference(w, Q, selected, G)
    assert relative_error(g, ref) < 1e-8 if chosen and len(chosen) < 8 else g.abs().max() < 1e-14
    E = symmetric_direction(8, seed=8, dtype=dtype)
    _, dP = torch.func.jvp(lambda X: eg.spectral_projector(X, **kwargs), (A,), (E,))
    h = 1e-6
    fd = (
        eg.spectral_projector(A + h * E, **kwargs) - eg.spectral_projector(A - h * E, **kwargs)
    ) / (2 * h)
    assert float((dP - fd).abs().max()) < 1e-8


def test_rounding_level_degeneracy_is_exact():
    # computed eigenvalues of the double eigenvalue differ by rounding only
    A, w, Q = matrix_with_spectrum([1.0, 1.0, 1.0, 2.0, 5.0], seed=21)
    G = symmetric_direction(5, seed=2)
    A.requires_grad_()
    (g,) = torch.autograd.grad(eg.spectral_projector(A, 3), A, G)
    ref = selection_gradient_reference(w, Q, torch.arange(5) < 3, G)
    assert relative_error(g, ref) < 1e-12


@pytest.mark.parametrize("dtype", [F64, C128])
def test_gradcheck_gradgradcheck(dtype):
    A, _, _ = matrix_with_spectrum([0.3, 1.0, 2.2, 3.0], seed=1, dtype=dtype)
    A.requires_grad_()

    def fn(X):
        return eg.spectral_projector(herm(X), 2)

    assert torch.autograd.gradcheck(fn, (A,), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(fn, (A,), check_fwd_over_rev=True, fast_mode=True)


def test_second_derivative_with_clusters_inside():
    A, _, _ = matrix_with_spectrum([1.0, 1.0, 3.0, 3.0], seed=2)
    B = symmetric_direction(4, seed=3)
    E = symmetric_direction(4, seed=4)

    def loss(X):
        return (eg.spectral_projector(herm(X), 2) * B).sum()

    grad = torch.func.grad(loss)
    _, hvp = torch.func.jvp(grad, (A,), (E,))
    h = 1e-5
    fd = (grad(A + h * E) - grad(A - h * E)) / (2 * h)
    assert relative_error(hvp, fd) < 1e-7


def test_split_cluster_raises_with_nearest_valid_selections():
    A, _, _ = matrix_with_spectrum(SPECTRUM, seed=4)
    with pytest.raises(SplitClusterError) as info:
        eg.spectral_projector(A, 4)
    msg = str(info.value)
    assert "eigenvalue 0.5" in msg and "multiplicity 3" in msg and "indices 3..5" in msg
    assert "k=3 or k=6" in msg
    with pytest.raises(SplitClusterError, match="k=2 or k=5 with largest=True"):
        eg.spectral_projector(A, 4, largest=True)
    with pytest.raises(SplitClusterError, match=r"indices=\(1, 6\) or indices=\(1, 3\)|indices"):
        eg.spectral_projector(A, indices=(1, 4))
    with pytest.raises(SplitClusterError, match="multiplicity 2"):
        eg.spectral_projector(A, indices=(2, 8))
    # an interval boundary inside a rounding-level cluster
    B, _, _ = matrix_with_spectrum([1.0, 1.0, 2.0], seed=9)
    w = torch.linalg.eigvalsh(B)
    if w[0] != w[1]:
        mid = float((w[0] + w[1]) / 2)
        with pytest.raises(SplitClusterError, match="interval boundary"):
            eg.spectral_projector(B, interval=(mid, 5.0))
    batch = torch.stack([torch.diag(torch.tensor([1.0, 2.0, 3.0])), torch.eye(3)])
    with pytest.raises(SplitClusterError, match=r"batch index \(1,\)"):
        eg.spectral_projector(batch, 1)


def test_interval_rank_varies_over_batch():
    A = torch.stack(
        [torch.diag(torch.tensor([0.0, 1.0, 2.0])), torch.diag(torch.tensor([0.0, 5.0, 6.0]))]
    ).double()
    P = eg.spectral_projector(A, interval=(-1.0, 1.5))
    assert P.diagonal(dim1=-2, dim2=-1).sum(-1).tolist() == [2.0, 1.0]
    Pv = torch.func.vmap(lambda X: eg.spectral_projector(X, interval=(-1.0, 1.5)))(A)
    assert torch.equal(P, Pv)


def test_bad_selections():
    A = torch.eye(3, dtype=F64)
    with pytest.raises(InputError, match="exactly one selection"):
        eg.spectral_projector(A)
    with pytest.raises(InputError, match="exactly one selection"):
        eg.spectral_projector(A, 1, interval=(0.0, 1.0))
    with pytest.raises(InputError, match="0 <= k <= n = 3"):
        eg.spectral_projector(A, 4)
    with pytest.raises(InputError, match="start <= stop"):
        eg.spectral_projector(A, indices=(2, 1))
    with pytest.raises(InputError, match="low <= high"):
        eg.spectral_projector(A, interval=(2.0, 1.0))


@pytest.mark.parametrize("selection", [{"indices": (0, 1)}, {"interval": (0.0, 1.5)}])
def test_largest_only_with_k(selection):
    # largest=True was silently ignored with indices or interval
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    with pytest.raises(InputError, match="largest=True applies to k"):
        eg.spectral_projector(A, largest=True, **selection)


@pytest.mark.parametrize(("option", "value"), [("rtol", -1.0), ("atol", float("nan"))])
def test_tolerances_are_validated(option, value):
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    with pytest.raises(InputError, match=rf"real {option} >= 0"):
        eg.spectral_projector(A, 1, **{option: value})
