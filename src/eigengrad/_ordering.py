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

1. a breadth-first search from an arbitrary vertex of a part, then a second one from a vertex of
   its last level (a pseudo-peripheral vertex: one end of a near-diameter), gives the levels
   ``L_0, …, L_h``; no edge joins ``L_i`` and ``L_j`` for ``|i - j| > 1``, so each level separates
   the levels below it from those above;
2. the separator is the smallest level ``L_s`` whose two sides each hold at least ``balance`` of the
   part (the middle level if none), thinned to the vertices of ``L_s`` with a neighbour in
   ``L_{s+1}`` (the others join the lower side, which they do not connect to the upper one);
3. parts of at most ``leaf_size`` vertices become leaves (dense fronts); vertices that the first
   search does not reach lie in other connected components, which are labelled by min-label
   propagation with pointer jumping and become parts of their own, with no separator. Components
   of at most ``leaf_size`` vertices are packed together into leaves.

All parts of one recursion depth are processed together: each breadth-first step is a handful of
vectorized NumPy operations on the frontier of every part at once, so the Python overhead is
``O(diameter)`` steps per depth rather than per part, and the whole ordering costs
``O(nnz · depth)`` array work (``depth ≈ log2(n / leaf_size)`` on meshes).

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


def _gather(indptr: Array, indices: Array, rows: Array) -> Array:
    """Neighbours of ``rows`` in a CSR graph."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    offs = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
    return indices[offs]


def _table(indptr: Array, indices: Array) -> Array | None:
    """Return the padded ``(k, max degree)`` neighbour table (padding ``k``); None if skewed."""
    k = indptr.size - 1
    deg = np.diff(indptr)
    dmax = int(deg.max()) if k else 0
    if not indices.size or dmax > 4 * indices.size / k + 8:
        return None
    ell = np.full((k, dmax), k, dtype=np.int32)
    rows = np.repeat(np.arange(k, dtype=np.int32), deg)
    ell[rows, np.arange(indices.size) - indptr[rows]] = indices
    return ell


def _bfs(indptr: Array, indices: Array, ell: Array | None, roots: Array) -> Array:
    """Breadth-first levels from ``roots`` (``-1`` where unreached), all roots at once."""
    k = indptr.size - 1
    level = np.full(k + 1, -1, dtype=np.int32)
    level[k] = 0  # sentinel: the padding of the neighbour table counts as visited
    stamp = np.zeros(k + 1, dtype=np.int32)
    count = np.arange(max(indices.size, 1), dtype=np.int32)
    level[roots] = 0
    frontier = roots
    d = 0
    while frontier.size:
        d += 1
        # bounded degrees (meshes): the padded table makes each step one gather
        nb = ell[frontier].ravel() if ell is not None else _gather(indptr, indices, frontier)
        nb = nb[level[nb] < 0]
        # deduplicate without sorting: the last writer of each vertex keeps it
        pos = count[: nb.size]
        stamp[nb] = pos
        nb = nb[stamp[nb] == pos]
        level[nb] = d
        frontier = nb
    return level[:k].astype(np.int64)


def _components(indptr: Array, indices: Array) -> Array:
    """Connected-component label (the smallest vertex of the component) of every vertex."""
    k = indptr.size - 1
    lab = np.arange(k)
    deg = np.diff(indptr)
    has = np.flatnonzero(deg > 0)
    while True:
        new = lab.copy()
        if has.size:
            nmin = np.minimum.reduceat(lab[indices], indptr[:-1][has])
            new[has] = np.minimum(lab[has], nmin)
        # hook the old root of every label to the smaller one, then jump pointers to the roots
        np.minimum.at(new, lab, new)
        while True:
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, lab):
            return lab
        lab = new


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
    """
    n = indptr.size - 1
    rows_all = np.repeat(np.arange(n), np.diff(indptr))
    off = rows_all != indices
    src_e, dst_e = rows_all[off], indices[off]  # directed edges, sorted by source

    vfront = np.full(n, -1, dtype=np.int64)  # front of every vertex, once assigned
    fparent: list[Array] = []  # parent front of the fronts created so far, in blocks
    nfronts = 0
    part = np.zeros(n, dtype=np.int64)  # part of every active vertex (-1: assigned)
    part_parent = np.array([-1], dtype=np.int64)

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
        leaf_of_group = np.empty(starts.size, dtype=np.int64)
        cur, fill = -1, leaf_size
        for i in range(starts.size):  # one iteration per small component (few on meshes)
            if newpar[i] or fill + sizes[i] > leaf_size:
                cur += 1
                fill = 0
            fill += sizes[i]
            leaf_of_group[i] = cur
        first = np.flatnonzero(np.r_[True, leaf_of_group[1:] != leaf_of_group[:-1]])
        ids = new_fronts(gpar[first])
        vfront[verts] = ids[np.repeat(leaf_of_group, sizes)]

    while True:
        active = np.flatnonzero(part >= 0)
        if active.size == 0:
            break
        nparts_now = part_parent.size  # part ids are 0..P-1, every part non-empty
        p_act = part[active]
        ppar = part_parent
        psize = np.bincount(p_act, minlength=nparts_now)
        small = psize[p_act] <= leaf_size
        if small.any():
            pack_leaves(active[small], p_act[small], ppar)
            part[active[small]] = -1
            active, p_act = active[~small], p_act[~small]
            if active.size == 0:
                break
        k = active.size
        remap = np.full(n, -1, dtype=np.int64)
        remap[active] = np.arange(k)
        # the graph of the active vertices, edges inside one part only
        ru, rv = remap[src_e], remap[dst_e]
        keep = (ru >= 0) & (rv >= 0)
        keep[keep] = p_act[ru[keep]] == p_act[rv[keep]]
        g_ptr = np.concatenate([[0], np.cumsum(np.bincount(ru[keep], minlength=k))])
        g_ind = rv[keep]

        # first search from the first vertex of every part
        first = np.full(nparts_now, -1, dtype=np.int64)
        first[p_act[::-1]] = np.arange(k - 1, -1, -1)  # last writer: the smallest vertex
        present = first >= 0
        ell = _table(g_ptr, g_ind)
        lev = _bfs(g_ptr, g_ind, ell, first[present])
        unreached = lev < 0
        # a vertex of the last level (pseudo-peripheral) as the root of the second search
        far_lev = np.full(nparts_now, -1, dtype=np.int64)
        np.maximum.at(far_lev, p_act, lev)
        far = np.full(nparts_now, -1, dtype=np.int64)
        at_far = np.flatnonzero(lev == far_lev[p_act])
        far[p_act[at_far]] = at_far
        lev = _bfs(g_ptr, g_ind, ell, far[present])

        next_part = np.full(k, -1, dtype=np.int64)
        next_parent: list[Array] = []
        nparts = 0

        if unreached.any():
            # other components: label them, pack the small ones into leaves, keep the others
            u = np.flatnonzero(unreached)
            um = np.full(k, -1, dtype=np.int64)
            um[u] = np.arange(u.size)
            eu = np.repeat(np.arange(k), np.diff(g_ptr))
            ke = unreached[eu]  # both ends unreached (edges stay inside a component)
            u_ptr = np.concatenate([[0], np.cumsum(np.bincount(um[eu[ke]], minlength=u.size))])
            comp = _components(u_ptr, um[g_ind[ke]])
            cid, cinv, csize = np.unique(comp, return_inverse=True, return_counts=True)
            cpar = ppar[p_act[u[cid]]]
            csmall = csize[cinv] <= leaf_size
            if csmall.any():
                pack_leaves(active[u[csmall]], cinv[csmall], cpar)
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
        # fallback: the level where the lower side reaches half of the component
        mid = ok & (below + cnt >= csz[seg] / 2)
        score = np.where(good, cnt, np.where(mid, csz[seg] + 1 + lvl, np.iinfo(np.int64).max))
        best = np.lexsort((lvl, score, seg))
        first_of = np.r_[True, seg[best][1:] != seg[best][:-1]]
        pick = best[first_of]  # one entry per part with a reached component
        parts_with = seg[pick]
        sep_level = np.full(nparts_now, -1, dtype=np.int64)
        dissect = (score[pick] < np.iinfo(np.int64).max) & (csz[parts_with] > leaf_size)
        sep_level[parts_with[dissect]] = lvl[pick[dissect]]

        # components with no useful level (cliques, stars): one dense leaf
        whole = sep_level[rp] < 0
        if whole.any():
            wparts = np.unique(rp[whole])
            ids = new_fronts(ppar[wparts])
            fmap = np.full(nparts_now, -1, dtype=np.int64)
            fmap[wparts] = ids
            vfront[active[r[whole]]] = fmap[rp[whole]]
        cut = np.flatnonzero(sep_level >= 0)
        if cut.size:
            s = sep_level[rp]
            # thin the separator to the vertices of L_s adjacent to L_{s+1}
            eu = np.repeat(np.arange(k), np.diff(g_ptr))
            up = (lev[eu] == sep_level[p_act[eu]]) & (lev[g_ind] == lev[eu] + 1)
            has_up = np.zeros(k, dtype=bool)
            has_up[eu[up]] = True
            rs = ~whole
            in_sep = rs & (rlev == s) & has_up[r]
            lower = rs & ((rlev < s) | ((rlev == s) & ~has_up[r]))
            upper = rs & (rlev > s)
            sep_ids = new_fronts(ppar[cut])
            fmap = np.full(nparts_now, -1, dtype=np.int64)
            fmap[cut] = sep_ids
            vfront[active[r[in_sep]]] = fmap[rp[in_sep]]
            lo = np.full(nparts_now, -1, dtype=np.int64)
            lo[cut] = nparts + 2 * np.arange(cut.size)
            next_part[r[lower]] = lo[rp[lower]]
            next_part[r[upper]] = lo[rp[upper]] + 1
            next_parent.append(np.repeat(sep_ids, 2))
            nparts += 2 * cut.size
        part[active] = next_part
        part_parent = np.concatenate(next_parent) if next_parent else np.zeros(0, dtype=np.int64)
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
