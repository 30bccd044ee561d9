"""Tests of the local-structure test that sends sparse random graphs to Lanczos."""

import pytest
import scipy.sparse
import scipy.sparse.csgraph
import torch

import eigengrad as eg
from eigengrad._local_structure import _pattern, connected, neighbourhoods, random_graph_like
from eigengrad.testing import cycle_edges, grid_edges, hypercube_edges, random_graph_edges

pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")


def laplacian(edges: torch.Tensor, n: int) -> torch.Tensor:
    return eg.graph_laplacian(edges, None, n).coalesce()


def tree_edges(n: int, seed: int = 0) -> torch.Tensor:
    """A random recursive tree: node i > 0 hangs from a uniform earlier node."""
    gen = torch.Generator().manual_seed(seed)
    child = torch.arange(1, n)
    parent = (torch.rand(n - 1, generator=gen) * child).long()
    return torch.stack([torch.cat([child, parent]), torch.cat([parent, child])])


def dense_reference(A: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sizes and tree-likeness from the dense adjacency matrix and its square."""
    adj = (A.to_dense() != 0).double()
    adj.fill_diagonal_(0)
    walks = adj @ adj  # walks[i, j]: two-step walks from i to j
    size, tree = [], []
    for i in nodes.tolist():
        n1 = adj[i] > 0
        n2 = (walks[i] > 0) & ~n1
        n2[i] = False
        away = float(walks[i].sum() - walks[i, i])
        size.append(1 + int(n1.sum()) + int(n2.sum()))
        tree.append(int(n2.sum()) / away if away else 1.0)
    return torch.tensor(size), torch.tensor(tree)


GRAPHS = {
    "random": lambda: laplacian(random_graph_edges(300, 4, ring=True), 300),
    "grid": lambda: laplacian(grid_edges(12, 15), 180),
    "hypercube": lambda: laplacian(hypercube_edges(7), 128),
    "tree": lambda: laplacian(tree_edges(200), 200),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_neighbourhoods_match_the_dense_count(name):
    A = GRAPHS[name]()
    n = A.shape[0]
    nodes = torch.randperm(n, generator=torch.Generator().manual_seed(1))[:40]
    size, tree = neighbourhoods(*_pattern(A), nodes)
    ref_size, ref_tree = dense_reference(A, nodes)
    assert torch.equal(size, ref_size)
    torch.testing.assert_close(tree.double(), ref_tree.double(), rtol=1e-6, atol=0)
    # the pattern is what counts: CSR, dense and an uncoalesced COO with its diagonal dropped
    i, j = A.indices()
    off = i != j
    twice = torch.cat([torch.stack([i[off], j[off]])] * 2, 1)  # every entry stored twice
    ones = torch.ones(twice.shape[1], dtype=torch.float64)
    loose = torch.sparse_coo_tensor(twice, ones, A.shape, check_invariants=True)
    for B in (A.to_sparse_csr(), A.to_dense(), loose):
        s, t = neighbourhoods(*_pattern(B), nodes)
        assert torch.equal(s, size) and torch.equal(t, tree)


def test_known_values():
    # hypercube Q_7: 7 neighbours, 21 at distance 2 through 42 walks (two paths each)
    size, tree = neighbourhoods(*_pattern(GRAPHS["hypercube"]()), torch.arange(128))
    assert bool((size == 29).all()) and bool((tree == 0.5).all())
    # cycle: 2 neighbours, 2 more at distance 2, every walk new
    size, tree = neighbourhoods(*_pattern(laplacian(cycle_edges(10), 10)), torch.arange(10))
    assert bool((size == 5).all()) and bool((tree == 1).all())


def test_separates_random_graphs_from_structured_ones():
    assert random_graph_like(laplacian(random_graph_edges(3000, 2, ring=True), 3000))
    assert random_graph_like(laplacian(random_graph_edges(3000, 10, ring=True), 3000))
    structured = {
        "cycle": laplacian(cycle_edges(3000), 3000),  # locally a tree, but no branching
        "tree": laplacian(tree_edges(3000), 3000),
        "grid 2-D": laplacian(grid_edges(50, 60), 3000),
        "grid 3-D": laplacian(grid_edges(14, 14, 14), 14**3),
        "hypercube": laplacian(hypercube_edges(12), 4096),  # large neighbourhoods, 4-cycles
    }
    for name, A in structured.items():
        assert not random_graph_like(A), name


def with_edges(A: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """The Laplacian ``A`` with the separate graph ``edges`` (node numbers from 0) appended."""
    n, extra = A.shape[0], int(edges.max()) + 1
    B = laplacian(edges, extra)
    index = torch.cat([A.indices(), B.indices() + n], 1)
    return torch.sparse_coo_tensor(
        index, torch.cat([A.values(), B.values()]), (n + extra, n + extra), check_invariants=True
    ).coalesce()


def scipy_components(A: torch.Tensor) -> int:
    i = A.indices().numpy()
    S = scipy.sparse.coo_matrix((torch.ones(i.shape[1]).numpy(), (i[0], i[1])), A.shape)
    return int(scipy.sparse.csgraph.connected_components(S, directed=False)[0])


def test_connected_matches_scipy():
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(3))
    graphs = [
        laplacian(random_graph_edges(500, 1), 500),  # many small trees and isolated nodes
        laplacian(perm[random_graph_edges(500, 1)], 500),
        laplacian(random_graph_edges(500, 8), 500),
        laplacian(perm[random_graph_edges(500, 4, ring=True)], 500),
        laplacian(tree_edges(300), 300),
        laplacian(grid_edges(7, 9), 63),
        with_edges(laplacian(random_graph_edges(400, 8, ring=True), 400), cycle_edges(5)),
        with_edges(laplacian(cycle_edges(5), 5), random_graph_edges(400, 8, ring=True)),
        torch.zeros(4, 4, dtype=torch.float64).to_sparse(),  # four isolated nodes
        torch.eye(1, dtype=torch.float64).to_sparse(),
    ]
    seen = set()
    for A in graphs:
        expected = scipy_components(A) == 1
        seen.add(expected)
        for B in (A, A.to_sparse_csr()):
            assert connected(*_pattern(B), levels=100) == expected
    assert seen == {True, False}
    # a path from node 0 needs a level per node: undecided within fewer, reported as None
    i = torch.arange(1999)
    path = laplacian(torch.stack([torch.cat([i, i + 1]), torch.cat([i + 1, i])]), 2000)
    assert connected(*_pattern(path), levels=4) is None
    assert connected(*_pattern(path), levels=2000) is True


def test_disconnected_graphs_are_not_random_like():
    # a repeated eigenvalue 0 (one per component), which the narrow Lanczos block finds slowly
    A = laplacian(random_graph_edges(3000, 10, ring=True), 3000)
    assert random_graph_like(A)
    pairs = torch.arange(80).reshape(40, 2).T
    assert not random_graph_like(with_edges(A, torch.cat([pairs, pairs.flip(0)], 1)))
    assert not random_graph_like(with_edges(A, cycle_edges(3)))  # a separate triangle
    assert not random_graph_like(with_edges(A, random_graph_edges(3000, 10, ring=True)))


def test_isolated_nodes_are_not_random_like():
    # a repeated eigenvalue 0, which the narrow Lanczos block finds slowly
    A = laplacian(random_graph_edges(3000, 10, ring=True), 3000)
    assert random_graph_like(A)
    i, v = A.indices(), A.values()
    for cut in (0, 1717):
        keep = (i[0] != cut) & (i[1] != cut)
        bare = torch.sparse_coo_tensor(i[:, keep], v[keep], A.shape, check_invariants=True)
        assert not random_graph_like(bare.coalesce())  # an empty row
        diag = torch.tensor([[cut], [cut]])
        lone = torch.sparse_coo_tensor(
            torch.cat([i[:, keep], diag], 1),
            torch.cat([v[keep], torch.ones(1, dtype=v.dtype)]),
            A.shape,
            check_invariants=True,
        ).coalesce()
        assert not random_graph_like(lone)  # the diagonal entry alone
        assert not random_graph_like(lone.to_sparse_csr())


def test_hubs_are_not_random_like_and_stay_cheap():
    # one node joined to every other: locally a tree around the hub (a wheel), and every
    # sample's walks would pass through it (O(n) each)
    for base in (grid_edges(100, 100), random_graph_edges(10000, 10, ring=True)):
        hub = torch.arange(9999)
        spokes = torch.stack(
            [
                torch.cat([hub, hub.new_full((9999,), 9999)]),
                torch.cat([hub.new_full((9999,), 9999), hub]),
            ]
        )
        A = laplacian(torch.cat([base[:, (base < 9999).all(0)], spokes], 1), 10000)
        assert not random_graph_like(A)


def test_seeds_layouts_small_and_empty():
    A = laplacian(random_graph_edges(3000, 3, ring=True), 3000)
    assert all(random_graph_like(A, seed=s) for s in range(5))
    assert random_graph_like(A.to_sparse_csr()) and random_graph_like(A.to_dense())
    # fewer nodes than samples: every node is examined, whatever the seed; a 60-node random
    # graph of average degree 6 is too small to be locally a tree (its walks meet: 0.75)
    small = laplacian(random_graph_edges(60, 4, ring=True), 60)
    size, tree = neighbourhoods(*_pattern(small), torch.arange(60))
    assert float(size.double().median()) > 12 and float(tree.median()) == 0.75
    assert not any(random_graph_like(small, seed=s) for s in range(5))
    assert not random_graph_like(laplacian(cycle_edges(60), 60))
    assert not random_graph_like(torch.zeros(0, 0, dtype=torch.float64).to_sparse())
