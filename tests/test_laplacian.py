"""eg.graph_laplacian against SciPy's csgraph Laplacian; gradients; errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps
import torch
from scipy.sparse.csgraph import laplacian as sp_laplacian

import eigengrad as eg
from eigengrad.exceptions import (
    InputDTypeError,
    InputError,
    InputShapeError,
    NonFiniteInputError,
)
from eigengrad.testing import grid_edges

F64 = torch.float64


# iterative solvers: single-threaded, so results do not depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


def _random_graph(n=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    i, j = torch.triu_indices(n, n, 1)
    keep = torch.rand(i.shape[0], generator=gen) < 0.2
    und = torch.stack([i[keep], j[keep]])
    w = torch.rand(und.shape[1], generator=gen, dtype=F64) + 0.1
    return torch.cat([und, und.flip(0)], 1), w.repeat(2)


@pytest.mark.parametrize("normalization", [None, "sym"])
def test_matches_scipy(normalization):
    n = 30
    edges, w = _random_graph(n)
    W = sps.coo_matrix((w.numpy(), (edges[0].numpy(), edges[1].numpy())), shape=(n, n))
    ref = sp_laplacian(W.toarray(), normed=normalization == "sym")
    L = eg.graph_laplacian(edges, w, n, normalization)
    assert L.layout == torch.sparse_coo and L.is_coalesced()
    np.testing.assert_allclose(L.to_dense().numpy(), ref, atol=1e-14)


def test_random_walk_has_sym_spectrum():
    edges, w = _random_graph(25, seed=2)
    rw = eg.graph_laplacian(edges, w, 25, "rw").to_dense()
    sym = eg.graph_laplacian(edges, w, 25, "sym").to_dense()
    ev = torch.linalg.eigvals(rw).real.sort().values
    assert torch.allclose(ev, torch.linalg.eigvalsh(sym), atol=1e-10)


@pytest.mark.parametrize("normalization", [None, "sym", "rw"])
def test_gradcheck_edge_weights(normalization):
    edges = grid_edges(3, 3)
    w = torch.rand(edges.shape[1], dtype=F64, generator=torch.Generator().manual_seed(1)) + 0.5
    w.requires_grad_()

    def f(w):
        return eg.graph_laplacian(edges, w, 9, normalization).to_dense()

    assert torch.autograd.gradcheck(f, (w,))


def test_defaults_and_isolated_nodes():
    L = eg.graph_laplacian(torch.tensor([[0, 1], [1, 0]]), num_nodes=3, normalization="sym")
    assert torch.allclose(
        L.to_dense(), torch.tensor([[1.0, -1, 0], [-1, 1, 0], [0, 0, 1]], dtype=F64)
    )
    assert eg.graph_laplacian(torch.tensor([[0, 1], [1, 0]])).shape == (2, 2)


def test_errors():
    with pytest.raises(InputShapeError, match=r"\(2, E\)"):
        eg.graph_laplacian(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(InputDTypeError):
        eg.graph_laplacian(torch.zeros(2, 4))
    with pytest.raises(InputError, match="num_nodes"):
        eg.graph_laplacian(torch.tensor([[0, 5], [5, 0]]), num_nodes=3)
    with pytest.raises(InputShapeError, match="edge_weight"):
        eg.graph_laplacian(torch.tensor([[0, 1], [1, 0]]), torch.ones(3, dtype=F64))
    with pytest.raises(InputError, match="normalization"):
        eg.graph_laplacian(torch.tensor([[0, 1], [1, 0]]), normalization="left")
    edges = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(InputDTypeError, match="integer edge_index"):
        eg.graph_laplacian(edges.bool())
    for num_nodes in (-1, 3.5):
        with pytest.raises(InputError, match="integer num_nodes"):
            eg.graph_laplacian(edges, num_nodes=num_nodes)
    with pytest.raises(InputDTypeError, match=r"torch\.Tensor"):
        eg.graph_laplacian(edges, [1.0, 1.0])
    with pytest.raises(InputDTypeError, match="floating-point"):
        eg.graph_laplacian(edges, torch.tensor([1, 1]))  # integer weights
    with pytest.raises(NonFiniteInputError):
        eg.graph_laplacian(edges, torch.tensor([1.0, float("inf")], dtype=F64))


def test_complex_dtype_holds_real_weights():
    edges = torch.tensor([[0, 1], [1, 2]])
    L = eg.graph_laplacian(edges, num_nodes=3, dtype=torch.complex128)
    assert L.dtype == torch.complex128
    torch.testing.assert_close(L.to_dense().real, eg.graph_laplacian(edges).to_dense())
    with pytest.raises(InputError, match="imaginary parts must be zero"):
        eg.graph_laplacian(edges, torch.tensor([1.0, 1j], dtype=torch.complex128))
    with pytest.raises(InputDTypeError, match=r"dtype=torch\.int64"):
        eg.graph_laplacian(edges, dtype=torch.int64)


@pytest.mark.parametrize("normalization", [None, "sym", "rw"])
def test_negative_weights_raise(normalization):
    # with "sym", a node of degree 1 - 1 = 0 used to be treated as isolated and its edges
    # dropped silently
    weight = torch.tensor([1.0, -1.0], dtype=F64, requires_grad=True)
    with pytest.raises(InputError, match=r"non-negative edge weights, received -1 at edge 1"):
        eg.graph_laplacian(torch.tensor([[0, 1], [1, 2]]), weight, normalization=normalization)
    eg.graph_laplacian(torch.tensor([[0, 1], [1, 2]]), weight.detach().abs() * 0)  # zero: fine
