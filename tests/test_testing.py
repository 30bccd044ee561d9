"""The shared builders and references of eigengrad.testing."""

import math

import pytest
import scipy.linalg
import torch

import eigengrad as eg
from eigengrad.testing import (
    function_divided_differences,
    grid_edges,
    matrix_with_spectrum,
    projector_divided_differences,
    projector_loss_gradient,
    random_graph_edges,
    random_unitary,
    relative_error,
    spectrum_with_gap,
    symmetric_direction,
)


def test_random_unitary_is_unitary_and_seeded():
    for dtype in (torch.float64, torch.complex128):
        Q = random_unitary(5, seed=1, dtype=dtype, batch=(2,))
        eye = torch.eye(5, dtype=dtype).expand(2, 5, 5)
        torch.testing.assert_close(Q.mH @ Q, eye)
        torch.testing.assert_close(random_unitary(5, seed=1, dtype=dtype, batch=(2,)), Q)


def test_matrix_with_spectrum_has_that_spectrum():
    A, w, Q = matrix_with_spectrum([3.0, -1.0, 2.0, 2.0], seed=4, dtype=torch.complex128)
    torch.testing.assert_close(A, A.mH, rtol=0, atol=0)
    torch.testing.assert_close(torch.linalg.eigvalsh(A), w.sort().values)
    torch.testing.assert_close(A @ Q, Q * w.to(A.dtype))


def test_spectrum_with_gap():
    w = spectrum_with_gap(6, 1e-6, multiplicity=3, at=2, scale=10.0)
    assert w.shape == (6,)
    assert bool((w[1:] >= w[:-1]).all())
    torch.testing.assert_close(w[3] - w[2], torch.tensor(1e-5, dtype=torch.float64))
    torch.testing.assert_close(w[4] - w[3], torch.tensor(1e-5, dtype=torch.float64))


def test_projector_reference_matches_finite_differences():
    A, w, Q = matrix_with_spectrum([-1.0, 0.0, 2.0, 3.5], seed=2)
    B = symmetric_direction(4, seed=3)
    selected = torch.tensor([True, True, False, False])
    g = projector_loss_gradient(w, Q, selected, B)
    E = symmetric_direction(4, seed=5)

    def loss(A):
        _, V = torch.linalg.eigh(A)
        return float(((V[:, :2] @ V[:, :2].mT) * B).sum())

    h = 1e-6
    fd = (loss(A + h * E) - loss(A - h * E)) / (2 * h)
    assert abs(fd - float((g * E).sum())) < 1e-8
    D = projector_divided_differences(w, selected)
    assert float(D[0, 1]) == 0.0 and float(D[0, 2]) == 1 / (-1.0 - 2.0)


def test_divided_differences_against_scipy_frechet():
    A, w, Q = matrix_with_spectrum([0.5, 0.5, 1.0, 2.0], seed=6)
    E = symmetric_direction(4, seed=7)
    D = function_divided_differences(w, torch.exp(w), torch.exp(w))
    frechet = Q @ (D * (Q.mT @ E @ Q)) @ Q.mT
    ref = scipy.linalg.expm_frechet(A.numpy(), E.numpy(), compute_expm=False)
    assert relative_error(frechet, torch.from_numpy(ref)) < 1e-12


def test_relative_error():
    ref = torch.tensor([1.0, -2.0])
    assert relative_error(ref, ref) == 0.0
    assert relative_error(torch.tensor([1.0, float("nan")]), ref) == float("inf")
    assert relative_error(torch.tensor([1.0, -1.0]), ref) == 0.5
    assert relative_error(torch.zeros(0), torch.zeros(0)) == 0.0


def test_random_graph_edges():
    n = 500
    e = random_graph_edges(n, 6, seed=3)
    assert e.shape[0] == 2 and bool((e[0] != e[1]).all())
    half = e.shape[1] // 2
    assert torch.equal(e[:, :half], e.flip(0)[:, half:])  # both directions
    assert n * 3 - 20 < half <= n * 3  # about n * degree / 2 edges, minus self-loops
    assert torch.equal(e, random_graph_edges(n, 6, seed=3))
    ring = random_graph_edges(n, 0, ring=True)
    L = torch.zeros(n, n, dtype=torch.float64).index_put_(
        (ring[0], ring[1]), torch.ones(1, dtype=torch.float64), accumulate=True
    )
    L = torch.diag(L.sum(1)) - L
    w = torch.linalg.eigvalsh(L)
    assert float(w[1]) > 1e-8  # the ring makes it connected


@pytest.mark.parametrize("shape", [(7,), (4, 6), (3, 4, 5)])
def test_grid_edges_spectrum(shape):
    # the grid graph is the Cartesian product of paths: its Laplacian eigenvalues are the sums
    # of the paths' eigenvalues 2 - 2 cos(pi j / m), j = 0..m-1
    n = math.prod(shape)
    e = grid_edges(*shape)
    assert e.shape == (2, 2 * sum(n // m * (m - 1) for m in shape))
    L = eg.graph_laplacian(e, None, n).to_dense()
    paths = [2 - 2 * torch.cos(math.pi * torch.arange(m, dtype=torch.float64) / m) for m in shape]
    ref = paths[0]
    for p in paths[1:]:
        ref = (ref[:, None] + p[None, :]).reshape(-1)
    torch.testing.assert_close(torch.linalg.eigvalsh(L), torch.sort(ref).values)
