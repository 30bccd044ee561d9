r"""Fill-reducing nested-dissection ordering of a sparse symmetric graph, with its assembly tree.

The sparse Cholesky factorization (:mod:`eigengrad._cholesky`) eliminates the unknowns of a sparse
symmetric positive definite matrix in an order that keeps the factor sparse. Nested dissection
(George 1973) finds a small vertex separator ``S`` that splits the graph into two halves ``A`` and
``B`` with no edge between them, numbers ``A`` first, then ``B``, then ``S``, and recurses into the
halves. Eliminating a vertex of ``A`` only creates fill inside ``A ∪ S`` (and of ``B``, inside
``B ∪ S``), so the dissection tree (every separator the parent of the two halves' subtrees) is an
assembly tree for the multifrontal method: the fill of a tree node lies in the node and its
ancestors. On a ``√n × √n`` grid this gives ``O(n log n)`` entries in the factor and ``O(n^{3/2})``
flops (George and Liu 1981, ch. 8).

Separators come from rooted level structures (George and Liu 1981, ch. 4):

1. a breadth-first search from a pseudo-peripheral vertex (one end of a near-diameter: a vertex
   of least degree among the farthest from some start) gives the levels ``L_0, …, L_h``; no edge
   joins ``L_i`` and ``L_j`` for ``|i - j| > 1``, so each level separates the levels below it
   from those above. The farthest vertices come from a first search from an arbitrary vertex on
   the first depth; on later depths they are free: within the lower side of a split the parent's
   levels are the distances from the parent's root, within the upper side they are the distances
   from ``L_{s+1}``, so one search per depth suffices;
2. the separator is the smallest level ``L_s`` whose two sides each hold at least ``balance`` of the
   part (the middle level if none), thinned to the vertices of ``L_s`` with a neighbour in
   ``L_{s+1}`` (the others join the lower side, which they do not connect to the upper one);
3. parts of at most ``leaf_size`` vertices become leaves (dense fronts); vertices that the
   search from the root does not reach lie in other connected components, labelled by min-label
   propagation with pointer jumping and become parts of their own, with no separator. Components
   of at most ``leaf_size`` vertices are packed together into leaves.

All parts of one recursion depth are processed together: each breadth-first step is a handful of
vectorized NumPy operations on the frontier of every part at once (a gather from a padded
neighbour table), so the Python overhead is ``O(diameter)`` steps per depth rather than per part,
and the whole ordering costs ``O(nnz · depth)`` array work (``depth ≈ log2(n / leaf_size)`` on
meshes). Vertices of very high degree (hubs, dense rows) would make the table wide: they are
ordered last, as the root front, and the dissection runs on the rest of the graph.

References
----------
A. George, "Nested dissection of a regular finite element mesh", SIAM J. Numer. Anal. 10 (1973).
A. George, J. W. H. Liu, "Computer Solution of Large Sparse Positive Definite Systems",
Prentice-Hall (1981), ch. 4 (level structures, pseudo-peripheral nodes) and ch. 8 (nested
dissection). J. W. H. Liu, "The multifrontal method for sparse matrix solution: theory and
practice", SIAM Review 34 (1992) (assembly trees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass
class Dissection:
    """A nested-dissection ordering and its assembly tree, fronts numbered in postorder.

    Attributes
    ----------
    perm : ndarray
        ``(n,)`` new-to-old permutation: row ``i`` of the reordered matrix is row ``perm[i]``.
    front_ptr : ndarray
        ``(F + 1,)``: front ``f`` owns the reordered unknowns ``front_ptr[f]:front_ptr[f + 1]``.
    parent : ndarray
        ``(F,)`` parent front of every front (``-1`` for roots); ``parent[f] > f``.
    """

    perm: Array
    front_ptr: Array
    parent: Array


def _table(indptr: Array, indices: Array, n: int, cap: float) -> tuple[Array, Array]:
    """Neighbour table of the graph without its hubs, and the hubs.

    Returns the ``(n, d)`` table (row ``i``: the neighbours of ``i``, padded with ``n``; self
    loops and hubs left out) and the hubs: the vertices of degree above ``cap``.
    """
    deg = np.diff(indptr)
    rows = np.repeat(np.arange(n), deg)
    hub = deg > cap
    keep = (rows != indices) & ~hub[rows] & ~hub[indices]
    rows, cols = rows[keep], indices[keep]
    d = np.bincount(rows, minlength=n)
    table = np.full((n, int(d.max()) if rows.size else 0), n, dtype=np.int32)
    start = np.cumsum(d) - d
    table[rows, np.arange(rows.size) - start[rows]] = cols
    return table, np.flatnonzero(hub)


def _bfs(E: Array, roots: Array) -> Array:
    """Breadth-first levels from ``roots`` (``-1`` where unreached) in the table ``E``."""
    k = E.shape[0]
    level = np.full(k + 1, -1, dtype=np.int32)
    level[k] = 0  # sentinel: the padding counts as visited
    stamp = np.zeros(k + 1, dtype=np.int32)
    count = np.arange(E.size + 1, dtype=np.int32)
    level[roots] = 0
    frontier = roots
    d = 0
    while frontier.size:
        d += 1
        nb = E[frontier].ravel()
        nb = nb[level[nb] < 0]
        # deduplicate without sorting: the last writer of each vertex keeps it
        pos = count[: nb.size]
        stamp[nb] = pos
        nb = nb[stamp[nb] == pos]
        level[nb] = d
        frontier = nb
    return level[:k].astype(np.int64)


def _components(E: Array) -> Array:
    """Connected-component label (the smallest vertex of the component) of every vertex."""
    k = E.shape[0]
    lab = np.arange(k + 1)  # lab[k]: the padding, larger than every label
    while True:
        new = lab.copy()
        if E.shape[1]:
            new[:k] = np.minimum(lab[:k], lab[E].min(axis=1))
        # hook the old root of every label to the smaller one, then jump pointers to the roots
        np.minimum.at(new, lab, new)
        while True:
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, lab):
            return lab[:k]
        lab = new


def _restrict(E: Array, keep: Array) -> Array:
    """Restrict the table to the vertices ``keep`` (a mask), renumbered; others become padding."""
    k2 = int(keep.sum())
    new = np.full(E.shape[0] + 1, k2, dtype=np.int32)
    new[np.flatnonzero(keep)] = np.arange(k2, dtype=np.int32)
    return new[E[keep]]


def nested_dissection(
    indptr: Array, indices: Array, *, leaf_size: int = 64, balance: float = 0.3
) -> Dissection:
    """Nested-dissection ordering of the symmetric graph with CSR structure ``indptr, indices``.

    Parameters
    ----------
    indptr, indices : ndarray
        CSR structure of an ``n × n`` symmetric pattern (both directions of every edge stored);
        diagonal entries are ignored.
    leaf_size : int
        Parts of at most this many vertices are not dissected further.
    balance : float
        A level is a separator candidate when each side holds at least this fraction of the part.

    Returns
    -------
    Dissection
        The permutation, the fronts (separators and leaves, contiguous in the new numbering and
        numbered in postorder) and the parent of every front.

    Notes
    -----
    Vertices of degree above ``max(4 d̄ + 8, 32)`` (``d̄`` the mean degree) are hubs: they are
    left out of the dissection and form the last front, the root of the tree (dense rows are
    eliminated last), so that the other vertices fit a padded neighbour table.
    """
    n = indptr.size - 1
    vfront = np.full(n, -1, dtype=np.int64)  # front of every vertex, once assigned
    fparent: list[Array] = []  # parent front of the fronts created so far, in blocks
    nfronts = 0

    def new_fronts(parents: Array) -> Array:
        nonlocal nfronts
        ids = np.arange(nfronts, nfronts + parents.size)
        nfronts += parents.size
        fparent.append(parents.astype(np.int64))
        return ids

    def pack_leaves(verts: Array, group: Array, parents_of_group: Array) -> None:
        """Pack ``verts`` (grouped by ``group``, small groups) into leaves of about leaf_size."""
        order = np.argsort(group, kind="stable")
        verts, group = verts[order], group[order]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        sizes = np.diff(np.r_[starts, verts.size])
        gpar = parents_of_group[group[starts]]
        # consecutive groups with the same parent share a leaf while it holds <= leaf_size
        newpar = np.r_[True, gpar[1:] != gpar[:-1]]
        if sizes.max() * 2 > leaf_size:  # large groups (split parts): one leaf each
            leaf_of_group = np.arange(starts.size)
        else:  # small components: greedy packing (one iteration per group, few on meshes)
            leaf_of_group = np.empty(starts.size, dtype=np.int64)
            cur, fill = -1, leaf_size
            for i, (fresh, sz) in enumerate(zip(newpar.tolist(), sizes.tolist(), strict=True)):
                if fresh or fill + sz > leaf_size:
                    cur += 1
                    fill = 0
                fill += sz
                leaf_of_group[i] = cur
        first = np.flatnonzero(np.r_[True, leaf_of_group[1:] != leaf_of_group[:-1]])
        ids = new_fronts(gpar[first])
        vfront[verts] = ids[np.repeat(leaf_of_group, sizes)]

    if n == 0:
        return Dissection(np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64))
    deg = np.diff(indptr)
    E, hubs = _table(indptr, indices, n, max(4 * deg.mean() + 8, 32))
    top = -1
    if hubs.size:
        top = int(new_fronts(np.array([-1]))[0])
        vfront[hubs] = top
        keep = np.ones(n, dtype=bool)
        keep[hubs] = False
        E = _restrict(E, keep)
    act = np.flatnonzero(vfront < 0)  # global ids of the active vertices
    p_act = np.zeros(act.size, dtype=np.int64)  # their parts
    ppar = np.array([top], dtype=np.int64)  # the parent front of every part
    # distance of every active vertex from a set inside its part known from the previous depth
    # (-1: unknown); its farthest vertices are pseudo-peripheral
    hint = np.full(act.size, -1, dtype=np.int64)

    while act.size:
        nparts_now = ppar.size  # part ids are 0..P-1, every part non-empty
        psize = np.bincount(p_act, minlength=nparts_now)
        small = psize[p_act] <= leaf_size
        if small.any():
            pack_leaves(act[small], p_act[small], ppar)
            E = _restrict(E, ~small)
            act, p_act, hint = act[~small], p_act[~small], hint[~small]
            if act.size == 0:
                break
        k = act.size
        first = np.full(nparts_now, -1, dtype=np.int64)
        first[p_act[::-1]] = np.arange(k - 1, -1, -1)  # last writer: the smallest vertex
        present = first >= 0
        far_lev = np.full(nparts_now, -1, dtype=np.int64)
        np.maximum.at(far_lev, p_act, hint)
        need = present & (far_lev < 0)
        if need.any():
            # parts without a hint (the first depth, new components): a first search from
            # their first vertex (it only visits these parts)
            lev = _bfs(E, first[need])
            hint = np.where(need[p_act], lev, hint)
            np.maximum.at(far_lev, p_act, hint)
        # the vertex of least degree among the farthest (pseudo-peripheral): the root
        at_far = np.flatnonzero((hint == far_lev[p_act]) & (hint >= 0))
        dg = (E[at_far] < k).sum(axis=1)
        at_far = at_far[np.argsort(-dg, kind="stable")]  # last writer: least degree
        far = np.full(nparts_now, -1, dtype=np.int64)
        far[p_act[at_far]] = at_far
        lev = _bfs(E, far[present])
        unreached = lev < 0

        next_part = np.full(k, -1, dtype=np.int64)
        next_parent: list[Array] = []
        nparts = 0

        if unreached.any():
            # other components: label them, pack the small ones into leaves, keep the others
            u = np.flatnonzero(unreached)
            comp = _components(_restrict(E, unreached))
            cid, cinv, csize = np.unique(comp, return_inverse=True, return_counts=True)
            cpar = ppar[p_act[u[cid]]]
            csmall = csize[cinv] <= leaf_size
            if csmall.any():
                pack_leaves(act[u[csmall]], cinv[csmall], cpar)
            big = np.flatnonzero(csize > leaf_size)
            if big.size:
                newid = np.full(cid.size, -1, dtype=np.int64)
                newid[big] = np.arange(big.size)
                sel = ~csmall
                next_part[u[sel]] = newid[cinv[sel]]
                next_parent.append(cpar[big])
                nparts = big.size

        # level structure of the reached component of every part
        r = np.flatnonzero(~unreached)
        rp = p_act[r]
        rlev = lev[r]
        hgt = np.zeros(nparts_now, dtype=np.int64)
        np.maximum.at(hgt, rp, rlev)
        base = np.concatenate([[0], np.cumsum(hgt + 1)])
        cnt = np.bincount(base[rp] + rlev, minlength=int(base[-1]))
        csz = np.bincount(rp, minlength=nparts_now)
        seg = np.repeat(np.arange(nparts_now), hgt + 1)
        lvl = np.arange(cnt.size) - base[seg]
        below = np.cumsum(cnt) - cnt - np.repeat(np.cumsum(csz) - csz, hgt + 1)
        above = csz[seg] - below - cnt
        ok = (lvl >= 1) & (below > 0) & (above > 0)
        good = ok & (np.minimum(below, above) >= balance * csz[seg])
        # fallback: the first level where the lower side reaches half of the component
        mid = ok & (below + cnt >= csz[seg] / 2)
        score = np.where(good, cnt, np.where(mid, csz[seg] + 1 + lvl, np.iinfo(np.int64).max))
        best = np.lexsort((lvl, score, seg))
        first_of = np.r_[True, seg[best][1:] != seg[best][:-1]]
        pick = best[first_of]  # one entry per part
        parts_with = seg[pick]
        sep_level = np.full(nparts_now, -1, dtype=np.int64)
        dissect = (score[pick] < np.iinfo(np.int64).max) & (csz[parts_with] > leaf_size)
        sep_level[parts_with[dissect]] = lvl[pick[dissect]]

        # components with no useful level (cliques, stars, small): one dense leaf
        whole = sep_level[rp] < 0
        if whole.any():
            wparts = np.flatnonzero(np.bincount(rp[whole], minlength=nparts_now))
            ids = new_fronts(ppar[wparts])
            fmap = np.full(nparts_now, -1, dtype=np.int64)
            fmap[wparts] = ids
            vfront[act[r[whole]]] = fmap[rp[whole]]
        cut = np.flatnonzero(sep_level >= 0)
        if cut.size:
            s = sep_level[rp]
            rs = ~whole
            # thin the separator to the vertices of L_s adjacent to L_{s+1}
            cand = r[rs & (rlev == s)]
            lev_ext = np.append(lev, -2)
            has_up = np.zeros(k, dtype=bool)
            has_up[cand] = (lev_ext[E[cand]] == lev[cand, None] + 1).any(axis=1)
            in_sep = rs & (rlev == s) & has_up[r]
            lower = rs & ((rlev < s) | ((rlev == s) & ~has_up[r]))
            upper = rs & (rlev > s)
            sep_ids = new_fronts(ppar[cut])
            fmap = np.full(nparts_now, -1, dtype=np.int64)
            fmap[cut] = sep_ids
            vfront[act[r[in_sep]]] = fmap[rp[in_sep]]
            lo = np.full(nparts_now, -1, dtype=np.int64)
            lo[cut] = nparts + 2 * np.arange(cut.size)
            next_part[r[lower]] = lo[rp[lower]]
            next_part[r[upper]] = lo[rp[upper]] + 1
            next_parent.append(np.repeat(sep_ids, 2))
            nparts += 2 * cut.size
        # the next depth: active vertices, edges inside one part only
        np_ext = np.append(next_part, -1)
        E = np.where(np_ext[E] == next_part[:, None], E, np.int32(k))
        keep = next_part >= 0
        E = _restrict(E, keep)
        # the levels from this root are distances from the root (lower side) or from the
        # level above the separator (upper side): hints for the next depth
        act, p_act, hint = act[keep], next_part[keep], lev[keep]
        ppar = np.concatenate(next_parent) if next_parent else np.zeros(0, dtype=np.int64)
    return _postorder(vfront, np.concatenate(fparent) if fparent else np.zeros(0, np.int64))


def _postorder(vfront: Array, fparent: Array) -> Dissection:
    """Renumber the fronts in postorder (every subtree contiguous, the root last)."""
    nf = fparent.size
    own = np.bincount(vfront, minlength=nf)
    sub = own.copy()
    # fronts are created top-down (a parent before its children): children have larger ids
    par = fparent.tolist()
    subl = sub.tolist()
    for f in range(nf - 1, -1, -1):
        p = par[f]
        if p >= 0:
            subl[p] += subl[f]
    offset = [0] * nf
    nxt = [0] * nf
    top = 0
    for f in range(nf):
        p = par[f]
        if p >= 0:
            offset[f] = nxt[p]
            nxt[p] += subl[f]
        else:
            offset[f] = top
            top += subl[f]
        nxt[f] = offset[f]
    start = np.asarray(offset, dtype=np.int64) + np.asarray(subl, dtype=np.int64) - own
    order = np.argsort(start, kind="stable")  # postorder of the fronts
    rank = np.empty(nf, dtype=np.int64)
    rank[order] = np.arange(nf)
    parent = np.where(fparent[order] >= 0, rank[np.maximum(fparent[order], 0)], -1)
    perm = np.argsort(start[vfront], kind="stable")
    front_ptr = np.concatenate([[0], np.cumsum(own[order])])
    return Dissection(perm=perm, front_ptr=front_ptr, parent=parent)
