"""Sparse test matrices (SciPy) shared by the ordering and Cholesky tests."""

import numpy as np
import scipy.sparse as sp


def grid(*shape: int) -> sp.csr_matrix:
    mats = [sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m)) for m in shape]
    A = sp.csr_matrix((np.prod(shape),) * 2)
    for k, T in enumerate(mats):
        term = sp.eye(1)
        for j, m in enumerate(shape):
            term = sp.kron(term, T if j == k else sp.eye(m))
        A = A + term
    A = sp.csr_matrix(A)
    A.sort_indices()
    return A


def random_graph(n: int, degree: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    e = n * degree // 2
    a, b = rng.integers(0, n, e), rng.integers(0, n, e)
    W = sp.coo_matrix((np.ones(e), (a, b)), shape=(n, n))
    A = sp.csr_matrix(W + W.T)
    A.setdiag(0)
    A.eliminate_zeros()
    A.sort_indices()
    return A
