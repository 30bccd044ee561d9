"""Does ``eg.eigsh``'s ``method="auto"`` pick the faster solver? Graph families, both choices.

For each graph Laplacian (k = 8 smallest, one thread) the script reports the local statistics
that ``auto`` reads (median distance-2 neighbourhood size and tree-likeness, from
``eigengrad._local_structure``), its decision, and the forward time of both choices: the
narrow-block Lanczos solver ``auto`` gives sparse random graphs, and what ``auto`` does
otherwise (shift-invert, or multigrid LOBPCG when the factor would fill in), the decision being
forced by replacing the test. Medians over ``--repeat`` runs; "faster" says which choice won.

Usage: python benchmarks/bench_auto_choice.py [--n 10000] [--repeat 3] [--families ...] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings
from collections.abc import Callable

import torch

import eigengrad as eg
import eigengrad._partial_solver as solver_choice
from eigengrad._local_structure import _pattern, neighbourhoods, random_graph_like
from eigengrad.testing import (
    cycle_edges,
    grid_edges,
    hypercube_edges,
    random_graph_edges,
)


def _both(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cat([a, b]), torch.cat([b, a])])


def stencil_edges(*shape: int) -> torch.Tensor:
    """Full stencil (9-point in 2-D, 27-point in 3-D): every neighbour within one step."""
    idx = torch.arange(int(torch.tensor(shape).prod())).reshape(shape)
    parts = []
    for off in itertools.product((-1, 0, 1), repeat=len(shape)):
        if any(off):
            a = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, shape, strict=True))
            b = tuple(slice(max(0, o), s - max(0, -o)) for o, s in zip(off, shape, strict=True))
            parts.append(torch.stack([idx[a].flatten(), idx[b].flatten()]))
    return torch.cat(parts, 1)


def knn_edges(n: int, k: int) -> torch.Tensor:
    """k-nearest-neighbour graph of n uniform random points in the unit square."""
    P = torch.rand(n, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    D = torch.cdist(P, P).fill_diagonal_(float("inf"))
    nb = D.topk(k, largest=False).indices
    return torch.unique(_both(torch.arange(n).repeat_interleave(k), nb.flatten()), dim=1)


def tree_edges(n: int) -> torch.Tensor:
    child = torch.arange(1, n)
    parent = (torch.rand(n - 1, generator=torch.Generator().manual_seed(0)) * child).long()
    return _both(child, parent)


def with_hub(edges: torch.Tensor, n: int) -> torch.Tensor:
    """Node n - 1 joined to every other node (a wheel-like hub)."""
    keep = edges[:, (edges < n - 1).all(0)]
    rest = torch.arange(n - 1)
    return torch.cat([keep, _both(rest, torch.full_like(rest, n - 1))], 1)


def with_separate_edges(edges: torch.Tensor, n: int, count: int) -> torch.Tensor:
    """``count`` separate edges on the new nodes ``n .. n + 2 count - 1`` (small components)."""
    a = torch.arange(n, n + 2 * count, 2)
    return torch.cat([edges, _both(a, a + 1)], 1)


def weighted(edges: torch.Tensor) -> torch.Tensor:
    """Edge weights exp(3 U), symmetric (one draw per undirected edge)."""
    half = edges.shape[1] // 2
    w = torch.exp(3 * torch.rand(half, generator=torch.Generator().manual_seed(1)))
    return torch.cat([w, w]).double()


def families(n: int) -> dict[str, Callable[[], tuple[torch.Tensor, torch.Tensor | None, int]]]:
    side2, side3, side4 = round(n**0.5), round(n ** (1 / 3)), round(n**0.25)
    cube = max(1, round(torch.log2(torch.tensor(float(n))).item()))
    rnd = {d: (lambda d=d: (random_graph_edges(n, d, ring=True), None, n)) for d in (2, 3, 6, 10)}
    return {
        "cycle": lambda: (cycle_edges(n), None, n),
        "tree": lambda: (tree_edges(n), None, n),
        "grid 2-D 5-point": lambda: (grid_edges(side2, side2), None, side2**2),
        "grid 2-D 9-point": lambda: (stencil_edges(side2, side2), None, side2**2),
        "grid 3-D 7-point": lambda: (grid_edges(side3, side3, side3), None, side3**3),
        "grid 3-D 27-point": lambda: (stencil_edges(side3, side3, side3), None, side3**3),
        "grid 4-D": lambda: (grid_edges(side4, side4, side4, side4), None, side4**4),
        "6-nearest neighbours": lambda: (knn_edges(n, 6), None, n),
        "12-nearest neighbours": lambda: (knn_edges(n, 12), None, n),
        f"hypercube Q_{cube}": lambda: (hypercube_edges(cube), None, 2**cube),
        **{f"random, degree {d} + ring": f for d, f in rnd.items()},
        "random, degree 6 + ring, weighted": lambda: (
            (e := random_graph_edges(n, 6, ring=True)),
            weighted(e),
            n,
        ),
        "random, degree 6, no ring (isolated nodes)": lambda: (random_graph_edges(n, 6), None, n),
        "random, degree 6 + ring, 40 separate edges": lambda: (
            with_separate_edges(random_graph_edges(n, 6, ring=True), n, 40),
            None,
            n + 80,
        ),
        "grid 2-D + hub": lambda: (with_hub(grid_edges(side2, side2), side2**2), None, side2**2),
    }


def forward_seconds(L: torch.Tensor, random_like: bool, repeat: int) -> tuple[float, str]:
    solver_choice.random_graph_like = lambda A: random_like
    times, chosen = [], ""
    for _ in range(repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # slow choices may not converge: time them anyway
            t0 = time.perf_counter()
            info = eg.eigsh(L, 8, max_iter=3000).info
            times.append(time.perf_counter() - t0)
        chosen = info.method + ("+" + info.preconditioner if info.preconditioner else "")
    return statistics.median(times), chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--families", nargs="*", help="substrings of family names to run")
    parser.add_argument("--quick", action="store_true", help="smoke run: n = 600, 3 families")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat, args.families = 600, 1, ["cycle", "degree 3", "hypercube"]
    torch.set_num_threads(1)
    test = random_graph_like
    print(f"n ≈ {args.n}, k = 8, one thread, medians of {args.repeat}")
    print("| graph | n | size | tree-likeness | auto | Lanczos s | other s | other | faster |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, build in families(args.n).items():
        if args.families and not any(f in name for f in args.families):
            continue
        edges, weights, n = build()
        L = eg.graph_laplacian(edges, weights, n).coalesce()
        nodes = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:128]
        size, tree = neighbourhoods(*_pattern(L), nodes)
        decision = test(L)
        lanczos_s, _ = forward_seconds(L, True, args.repeat)
        other_s, other = forward_seconds(L, False, args.repeat)
        solver_choice.random_graph_like = test
        auto = "Lanczos" if decision else other
        faster = "Lanczos" if lanczos_s < other_s else other
        print(
            f"| {name} | {n} | {float(size.double().median()):.0f} | "
            f"{float(tree.median()):.2f} | {auto} | {lanczos_s:.3g} | {other_s:.3g} | {other} | "
            f"{faster}{'' if (faster == auto) else ' (auto missed)'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
