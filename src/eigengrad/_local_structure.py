"""The local structure of a sparse matrix's graph: how ``eigsh`` recognises sparse random graphs.

``method="auto"`` sends sparse random graphs to block Lanczos and everything else to a sparse
factorization or multigrid, and must decide before it spends anything on either. Measured with
``k = 8`` at ``10^4`` nodes (seconds, Lanczos against the other choice), random graphs of
average degree 4-22 (a ring plus uniform random edges), weighted or not, favour Lanczos 1.4-4.3x
(average degree 5: 0.25 against 1.08; 12: 0.28 against 1.05; at 10^5, degree 5: 7.8 against
33); meshes (2-D, 3-D 7- and
27-point, 4-D), nearest-neighbour graphs, hypercubes, cycles, trees and small-world rings favour
the factorization or multigrid 1.4-14x (hypercube Q_14: 10.4 against 0.82; 3-D 27-point: 1.9
against 1.4; 2-D grid: 5.8 against 0.56), and so do graphs with isolated nodes (a repeated
eigenvalue 0, which the narrow Lanczos block finds slowly: 8.0 against 0.2).

What tells them apart is seen within distance 2 of a node. A sparse random graph is locally a
tree: the ``w`` two-step walks from a node that do not return to it reach ``w`` distinct nodes.
Meshes, geometric graphs and hypercubes close short cycles, and their walks meet. Per node,
with ``N_1`` its neighbours and ``N_2`` the nodes at distance exactly 2 (stored off-diagonal
entries, any value)::

    size = 1 + |N_1| + |N_2|,    tree-likeness = |N_2| / #(two-step walks not back to the node)

Medians over 10^4-node graphs (size, tree-likeness): random graphs of average degree 4-22
17-502, 0.97-1.00; cycle 5, 1.0; trees and small-world rings 5-6, 1.0; 2-D 5-point grid 13,
0.67; 2-D 9-point 25, 0.29; 3-D 7-point 25, 0.60; 3-D 27-point 125, 0.15; 4-D 33, 0.57;
6- and 12-nearest-neighbour graphs of random points 20 and 42, 0.26 and 0.16; hypercubes 56-106,
0.50. A graph counts as random-like when the medians exceed ``MIN_SIZE`` and
``MIN_TREE_LIKENESS``, no sampled node or neighbour is a hub (degree above ``HUB`` times the
median: a mesh plus one node joined to all others is locally tree-like around the hub, and
Lanczos took 28 s on such a 50 x 50 grid against 1.9 s for shift-invert), and the graph is
connected. A Laplacian has the eigenvalue 0 once per connected component, and the narrow Lanczos
block finds a repeated eigenvalue slowly: isolated nodes took 8.0 s against 0.2 s, a random
graph with 40 separate edges 1.2 s against 0.06 s in multigrid LOBPCG.

Cost: the rows of a seeded sample of nodes and of their neighbours (at most
``samples · d · HUB · d`` entries for a median degree ``d``), 8 ms on a 10^5-node random graph
of degree 10 with 1.3·10^6 entries (COO; 5 ms for CSR); then, only for a graph that passed
those tests, whether it is connected (:func:`connected`, a breadth-first search that reads
every entry once): 15-20 ms there. An earlier version read the first multigrid level's
coarsening ratio instead: 0.2 s.
"""

from __future__ import annotations

import torch

from ._operator import row_pointers

SAMPLES = 128
MIN_SIZE = 12
MIN_TREE_LIKENESS = 0.9
# degrees of sparse random graphs are Poisson-like: P(deg > 8 x median) is below 1e-14 for a
# median of 4 (smaller for larger ones)
HUB = 8


def _pattern(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(crow, col)``: the CSR pattern of ``A`` (any layout)."""
    A = A.detach()
    if A.layout == torch.strided:
        A = A.to_sparse()
    if A.layout == torch.sparse_csr:
        return A.crow_indices().long(), A.col_indices().long()
    row, col = A.coalesce().indices()
    return row_pointers(row, A.shape[0]), col


def _entries(crow: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the stored entries of the rows ``nodes``, in order, and their counts."""
    start = crow.index_select(0, nodes)
    count = crow.index_select(0, nodes + 1) - start
    total = int(count.sum())
    pos = torch.repeat_interleave(start - (count.cumsum(0) - count), count, output_size=total)
    return pos + torch.arange(total, device=crow.device), count


def _neighbours(
    crow: torch.Tensor, col: torch.Tensor, nodes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(owner, nb)``: the off-diagonal neighbours of ``nodes``, ``owner`` their position."""
    pos, count = _entries(crow, nodes)
    nb = col.index_select(0, pos)
    owner = torch.repeat_interleave(torch.arange(nodes.numel(), device=col.device), count)
    off = nb != nodes.index_select(0, owner)
    return owner[off], nb[off]


def neighbourhoods(
    crow: torch.Tensor,
    col: torch.Tensor,
    nodes: torch.Tensor,
    first: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per node of ``nodes``: the distance-2 neighbourhood size and the tree-likeness.

    ``crow, col``: CSR pattern of a structurally symmetric matrix (entries on the diagonal are
    ignored). Tree-likeness is 1 for a node without two-step walks away from it. ``first``:
    ``_neighbours(crow, col, nodes)`` if the caller has it already.
    """
    k, n = nodes.numel(), crow.numel() - 1
    o1, n1 = _neighbours(crow, col, nodes) if first is None else first
    via, n2 = _neighbours(crow, col, n1)
    o2 = o1.index_select(0, via)
    away = n2 != nodes.index_select(0, o2)  # walks that do not come back to the node
    walks = torch.bincount(o2[away], minlength=k)
    owner = torch.cat([torch.arange(k, device=col.device), o1, o2])
    distinct = torch.unique(owner * n + torch.cat([nodes, n1, n2]))
    size = torch.bincount(distinct // n, minlength=k)
    degree = torch.bincount(o1, minlength=k)
    tree = (size - 1 - degree) / walks.clamp(min=1)
    return size, torch.where(walks > 0, tree, 1.0)


def connected(crow: torch.Tensor, col: torch.Tensor, *, levels: int) -> bool | None:
    """Whether a symmetric pattern's graph is connected; ``None`` if undecided within ``levels``.

    Breadth-first search from node 0, one level at a time: the rows of the newest level are
    read once, so the whole search reads each stored entry once, plus ``O(n)`` per level.
    ``None`` when ``levels`` levels leave nodes unreached but the search still going (node 0
    farther than ``levels`` from some node: a diameter above ``levels``). Stored entries
    count as edges whatever their value.
    """
    n = crow.numel() - 1
    if n == 0:
        return True
    seen = torch.zeros(n, dtype=torch.bool, device=col.device)
    seen[0] = True
    level = torch.zeros(1, dtype=torch.long, device=col.device)
    for _ in range(levels):
        reached = torch.zeros_like(seen).index_fill_(
            0, col.index_select(0, _entries(crow, level)[0]), True
        )
        reached &= ~seen
        level = reached.nonzero().squeeze(1)
        if level.numel() == 0:
            return bool(seen.all())
        seen |= reached
    return None


def random_graph_like(A: torch.Tensor, *, samples: int = SAMPLES, seed: int = 0) -> bool:
    """Whether the graph of ``A`` looks like a sparse random graph (module notes).

    ``A``: square, sparse COO or CSR (or dense), with a symmetric pattern. Deterministic given
    ``seed``; every node is examined when ``n <= samples``.
    """
    crow, col = _pattern(A)
    n = crow.numel() - 1
    if n == 0:
        return False
    count = crow.diff()
    gen = torch.Generator().manual_seed(seed)
    nodes = torch.randperm(n, generator=gen)[:samples].to(col.device)
    # hubs: a sampled node or neighbour with HUB times the median degree (a wheel's centre, a
    # power-law graph) is not a sparse random graph, and would make the walks O(n) per sample
    first = _neighbours(crow, col, nodes)
    median = float(count.index_select(0, nodes).double().median())
    if float(count.index_select(0, torch.cat([nodes, first[1]])).max()) > HUB * max(median, 1.0):
        return False
    size, tree = neighbourhoods(crow, col, nodes, first)
    if not (float(size.double().median()) > MIN_SIZE and float(tree.median()) > MIN_TREE_LIKENESS):
        return False
    # connected: a random-like graph's diameter is about log(n) / log(d); a graph that needs
    # more levels has a long path somewhere (small, clustered eigenvalues: not Lanczos's case)
    return bool(connected(crow, col, levels=4 * max(n, 2).bit_length()))
