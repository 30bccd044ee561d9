"""Tests of the sparse Cholesky factorization (solves against SciPy, errors, reconstruction)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sparse_matrices import grid, random_graph

from eigengrad._cholesky import FillBudgetExceeded, analyse, factor
from eigengrad.exceptions import (
    InputDTypeError,
    InputError,
    NonFiniteInputError,
    NotHermitianError,
    NotPositiveDefiniteError,
    NotSquareError,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def to_torch(A: sp.spmatrix, dtype=torch.float64) -> torch.Tensor:
    A = sp.csr_matrix(A)
    A.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(A.indptr.astype(np.int64)),
            torch.from_numpy(A.indices.astype(np.int64)),
            torch.from_numpy(A.data).to(dtype),
            A.shape,
            check_invariants=True,
        )


def random_spd(n: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    R = sp.random(n, n, density=density, random_state=rng)
    S = R + R.T
    return sp.csr_matrix(S + sp.diags(np.asarray(abs(S).sum(1)).ravel() + 1.0))


def disconnected() -> sp.csr_matrix:
    A = sp.block_diag([grid(9, 11), sp.csr_matrix((7, 7)), random_spd(40, 0.1, 3), grid(2, 2)])
    p = np.random.default_rng(5).permutation(A.shape[0])
    return sp.csr_matrix(sp.csr_matrix(A)[p][:, p])


def with_hubs() -> sp.csr_matrix:
    G = grid(12, 13)
    n = G.shape[0]
    H = sp.random(n, 3, density=0.9, random_state=np.random.default_rng(4))
    A = sp.bmat([[G, H], [H.T, None]])
    return sp.csr_matrix(A + sp.diags(np.asarray(abs(A).sum(1)).ravel() + 0.1))


CASES = {
    "hubs": (with_hubs, 0.0),
    "grid2d": (lambda: grid(23, 31), 0.05),
    "grid3d": (lambda: grid(9, 8, 7), 0.1),
    "random_spd": (lambda: random_spd(300, 0.02, 0), 0.0),
    "random_graph": (lambda: sp.csgraph.laplacian(random_graph(400, 3, 2)), 0.3),
    "disconnected": (disconnected, 0.5),
    "one": (lambda: sp.csr_matrix(np.array([[2.0]])), 0.0),
    "two": (lambda: sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]])), 0.0),
    "empty_pattern": (lambda: sp.csr_matrix((5, 5)), 1.5),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("leaf_size", [1, 8, 64])
def test_solve_matches_scipy(name, leaf_size):
    build, shift = CASES[name]
    A = sp.csr_matrix(build())
    n = A.shape[0]
    M = sp.csc_matrix(A + shift * sp.eye(n))
    B = np.random.default_rng(1).standard_normal((n, 5))
    ref = sla.spsolve(M, B).reshape(n, 5)
    chol = factor(analyse(to_torch(A), leaf_size=leaf_size), to_torch(A), shift)
    X = chol.solve(torch.from_numpy(B)).numpy()
    assert np.linalg.norm(X - ref) <= 1e-10 * np.linalg.norm(ref)
    x = chol.solve(torch.from_numpy(B[:, 0])).numpy()
    assert x.shape == (n,)
    assert np.linalg.norm(x - ref[:, 0]) <= 1e-10 * np.linalg.norm(ref[:, 0])


def test_float32():
    A = grid(30, 30)
    At = to_torch(A, torch.float32)
    chol = factor(analyse(At), At, 0.1)
    B = np.random.default_rng(2).standard_normal((900, 3))
    ref = sla.spsolve(sp.csc_matrix(A + 0.1 * sp.eye(900)), B)
    X = chol.solve(torch.from_numpy(B).float()).double().numpy()
    assert X.dtype == np.float64
    assert np.linalg.norm(X - ref) <= 1e-4 * np.linalg.norm(ref)


def test_factor_reproduces_matrix():
    A = disconnected()
    At = to_torch(A)
    sym = analyse(At, leaf_size=8)
    chol = factor(sym, At, 0.5)
    n = A.shape[0]
    # L assembled front by front from W = [L11^{-1} - I; -L21 L11^{-1}]
    L = torch.zeros(n, n, dtype=torch.float64)
    for bt, W in zip(sym.batches, chol._W, strict=True):
        for k in range(bt.fronts.size):
            p = int(bt.npiv[k])
            piv, rows = bt.idx[k, :p], bt.idx[k, bt.p :]
            rows = rows[rows < n]
            L11 = torch.linalg.inv(W[k, :p, :p] + torch.eye(p, dtype=torch.float64))
            L[piv[:, None], piv[None, :]] = L11
            L[rows[:, None], piv[None, :]] = -W[k, bt.p : bt.p + rows.numel(), :p] @ L11
    P = sym.perm
    M = torch.from_numpy((A + 0.5 * sp.eye(n)).toarray())
    assert torch.allclose(L @ L.T, M[P][:, P], atol=1e-12)
    assert torch.equal(L, L.tril())
    assert torch.count_nonzero(L.abs() > 1e-14) <= sym.nnz_factor


def test_nnz_and_flops_of_a_dense_leaf():
    A = to_torch(grid(3, 3))
    sym = analyse(A, leaf_size=64)
    assert sym.n_fronts == 1
    assert sym.nnz_factor == 9 * 10 // 2
    assert sym.flops == 9**3 // 3


def test_symbolic_is_reusable():
    A = grid(15, 15)
    sym = analyse(to_torch(A))
    for shift in (0.1, 1.0):
        M = A + sp.diags(np.linspace(0, 1, 225))
        x = factor(sym, to_torch(M), shift).solve(torch.ones(225, dtype=torch.float64))
        ref = sla.spsolve(sp.csc_matrix(M + shift * sp.eye(225)), np.ones(225))
        assert np.allclose(x.numpy(), ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("case", ["laplacian", "indefinite"])
def test_not_positive_definite(case):
    if case == "laplacian":
        A, shift = grid(20, 20), -0.5
    else:
        A, shift = sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 1.0]])), 0.0
    At = to_torch(A)
    with pytest.raises(NotPositiveDefiniteError, match="positive definite") as info:
        factor(analyse(At), At, shift)
    assert 0 <= info.value.index < A.shape[0]
    assert isinstance(info.value, ArithmeticError)


def test_fill_budget():
    A = to_torch(sp.csgraph.laplacian(random_graph(3000, 8, 0)))
    with pytest.raises(FillBudgetExceeded) as info:
        analyse(A, max_nnz_factor=200_000)
    assert info.value.nnz_lower_bound > 200_000
    assert analyse(to_torch(grid(50, 50)), max_nnz_factor=200_000).nnz_factor <= 200_000


def test_bad_input():
    A = to_torch(grid(4, 4))
    with pytest.raises(InputError, match="sparse"):
        analyse(A.to_dense())
    with pytest.raises(InputError, match=r"torch\.Tensor"):
        analyse(np.eye(3))
    with pytest.raises(NotSquareError):
        analyse(to_torch(sp.csr_matrix(np.ones((2, 3)))))
    with pytest.raises(InputDTypeError):
        analyse(A.to(torch.float16))
    with pytest.raises(InputError, match="complex"):
        analyse(A.to(torch.complex128))
    with pytest.raises(NotHermitianError, match="pattern"):
        analyse(to_torch(sp.csr_matrix(np.array([[1.0, 1.0], [0.0, 1.0]]))))
    with pytest.raises(NotHermitianError, match="symmetric"):
        B = to_torch(sp.csr_matrix(np.array([[2.0, 1.0], [0.5, 2.0]])))
        factor(analyse(B), B)
    with pytest.raises(NonFiniteInputError):
        C = to_torch(sp.csr_matrix(np.array([[np.nan, 1.0], [1.0, 2.0]])))
        factor(analyse(C), C)
    with pytest.raises(InputError, match="pattern"):
        factor(analyse(A), to_torch(grid(5, 5)))
    chol = factor(analyse(A), A, 1.0)
    with pytest.raises(InputError, match="shape"):
        chol.solve(torch.ones(5, dtype=torch.float64))
    with pytest.raises(InputDTypeError):
        chol.solve(torch.ones(16, dtype=torch.float32))


def test_coo_input():
    A = grid(6, 6)
    At = to_torch(A).to_sparse_coo()
    x = factor(analyse(At), At, 0.2).solve(torch.ones(36, dtype=torch.float64))
    assert np.allclose(x.numpy(), sla.spsolve(sp.csc_matrix(A + 0.2 * sp.eye(36)), np.ones(36)))


def test_empty_matrix():
    A = to_torch(sp.csr_matrix((0, 0)))
    chol = factor(analyse(A), A, 1.0)
    assert chol.solve(torch.zeros(0, 3, dtype=torch.float64)).shape == (0, 3)
    assert chol.solve(torch.zeros(0, dtype=torch.float64)).shape == (0,)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(
    n=st.integers(1, 60),
    density=st.floats(0.0, 0.3),
    leaf_size=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_random_patterns_match_dense(n, density, leaf_size, seed):
    # any symmetric pattern (isolated vertices, several components, dense rows): dense reference
    A = random_spd(n, density, seed)
    At = to_torch(A)
    B = np.random.default_rng(seed).standard_normal((n, 3))
    X = factor(analyse(At, leaf_size=leaf_size), At).solve(torch.from_numpy(B)).numpy()
    ref = np.linalg.solve(A.toarray(), B)
    assert np.linalg.norm(X - ref) <= 1e-10 * np.linalg.norm(ref)
