"""Tests of the nested-dissection ordering (permutation, separators, tree, fill)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st
from sparse_matrices import grid, random_graph

from eigengrad._ordering import nested_dissection


def order(A: sp.csr_matrix, leaf_size: int = 16):
    return nested_dissection(
        A.indptr.astype(np.int64), A.indices.astype(np.int64), leaf_size=leaf_size
    )


def check_tree(A: sp.csr_matrix, leaf_size: int = 16) -> None:
    """Permutation, postorder tree, and no edge between distinct subtrees except to ancestors."""
    d = order(A, leaf_size)
    n = A.shape[0]
    assert np.array_equal(np.sort(d.perm), np.arange(n))
    nf = d.parent.size
    assert d.front_ptr[0] == 0 and d.front_ptr[-1] == n
    assert np.all(np.diff(d.front_ptr) > 0)
    assert np.all((d.parent == -1) | (d.parent > np.arange(nf)))
    iperm = np.empty(n, dtype=np.int64)
    iperm[d.perm] = np.arange(n)
    front = np.repeat(np.arange(nf), np.diff(d.front_ptr))[iperm]
    # ancestors of every front (as sets): an edge may only join a front and its ancestor
    anc = [set() for _ in range(nf)]
    for f in range(nf - 1, -1, -1):
        q = d.parent[f]
        if q >= 0:
            anc[f] = anc[q] | {q}
    C = A.tocoo()
    for u, v in zip(front[C.row], front[C.col], strict=True):
        assert u == v or u in anc[v] or v in anc[u]


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (20, 20), (7, 9, 5)])
def test_grid_tree_and_separators(shape):
    check_tree(grid(*shape), leaf_size=8)


def test_disconnected_and_isolated():
    A = sp.block_diag([grid(12, 12), sp.csr_matrix((30, 30)), grid(3, 40), grid(2, 2)])
    A = sp.csr_matrix(A)
    A.sort_indices()
    rng = np.random.default_rng(0)
    p = rng.permutation(A.shape[0])
    B = sp.csr_matrix(A[p][:, p])
    B.sort_indices()
    check_tree(B, leaf_size=8)


def test_random_graph():
    check_tree(random_graph(300, 4, seed=1), leaf_size=8)


def test_grid_fill_near_splu():
    A = grid(100, 100)
    d = order(A, leaf_size=16)
    P = A[d.perm][:, d.perm] + sp.eye(A.shape[0])
    # nnz(L) of the ordering, counted by a dense-free symbolic Cholesky (scipy's splu without
    # reordering), against splu's own minimum-degree ordering
    ours = sla.splu(sp.csc_matrix(P), permc_spec="NATURAL", diag_pivot_thresh=0).L.nnz
    ref = sla.splu(sp.csc_matrix(A + sp.eye(A.shape[0])), permc_spec="MMD_AT_PLUS_A").L.nnz
    assert ours < 1.5 * ref


def test_hubs_are_ordered_last():
    # a grid plus two vertices joined to every grid vertex: the hubs form the root front
    G = grid(15, 15)
    n = G.shape[0]
    W = sp.lil_matrix((n + 2, n + 2))
    W[:n, :n] = G
    W[n, :n] = 1.0
    W[:n, n] = 1.0
    W[n + 1, :n] = 1.0
    W[:n, n + 1] = 1.0
    A = sp.csr_matrix(W)
    A.sort_indices()
    check_tree(A, leaf_size=8)
    d = order(A, leaf_size=8)
    assert set(d.perm[d.front_ptr[-2] :].tolist()) == {n, n + 1}


@settings(derandomize=True, max_examples=25, deadline=None)
@given(n=st.integers(1, 200), degree=st.integers(0, 6), leaf_size=st.integers(1, 20))
def test_random_graphs_give_valid_trees(n, degree, leaf_size):
    check_tree(random_graph(n, degree, seed=n), leaf_size=leaf_size)
