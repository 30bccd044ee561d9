r"""Sparse Cholesky factorization: nested dissection, multifrontal numeric phase, block solves.

Factors a sparse real symmetric positive definite ``M = A + shift I`` as ``P^T L L^T P`` in three
steps, so that shift-invert (``x = M^{-1} b``) can run on CPU, where torch has no sparse solver.

1. **Symbolic analysis** (:func:`analyse`, NumPy, no numeric work): the nested-dissection ordering
   ``P`` and its assembly tree of fronts (:mod:`eigengrad._ordering`). Front ``f`` eliminates the
   contiguous unknowns ``J_f`` (a separator or a leaf); its row structure is

   .. math::

       S_f = \Big(\operatorname{adj}_M(J_f) \cup \bigcup_{c \in \operatorname{children}(f)} S_c\Big)
       \setminus \{0, …, \max J_f\},

   computed bottom-up for all fronts of one tree height at once (sorted ``(front, row)`` keys). It
   gives ``nnz(L) = Σ_f |J_f| (|J_f| + 1) / 2 + |J_f| |S_f|`` and the flop count
   ``Σ_f p^3 / 3 + p^2 s + p s^2`` (``p = |J_f|``, ``s = |S_f|``: Cholesky of the pivot block,
   triangular solve, Schur complement) before any numeric work, so a caller can decide cheaply
   whether factorizing pays. On expander-like graphs (random graphs) the fill is catastrophic;
   ``max_nnz_factor`` stops the analysis as soon as the count passes the budget.
2. **Numeric factorization** (:func:`factor`, multifrontal; Duff and Reid 1983, Liu 1992): every
   front assembles the dense matrix ``F_f`` on ``J_f ∪ S_f`` from the entries of ``M`` in the
   columns ``J_f`` plus the update matrices of its children (extend-add), and factors

   .. math::

       F_f = \begin{pmatrix} F_{11} & \\ F_{21} & F_{22} \end{pmatrix}, \quad
       L_{11} L_{11}^T = F_{11}, \quad L_{21} = F_{21} L_{11}^{-T}, \quad
       U_f = F_{22} - L_{21} L_{21}^T,

   passing the update ``U_f`` on ``S_f`` to its parent. Fronts of equal tree height are
   independent; they are factored in batches whose pivot and structure counts agree within a
   factor ``_BUCKET`` (geometric buckets), padded to a common size (identity on padded pivots,
   zeros elsewhere, which leaves the real entries unchanged), with one batched ``cholesky_ex``,
   triangular inverse and a few ``bmm`` per batch, so the Python overhead is per batch (a few
   hundred on a 10^6-node grid), not per front. ``cholesky_ex``'s ``info`` flags a pivot block
   that is not positive definite: then ``M`` is not (its Schur complement is not), and
   :class:`~eigengrad.exceptions.NotPositiveDefiniteError` names the unknown.
3. **Solves** (:meth:`SparseCholesky.solve`): ``L y = P b`` front by front upwards
   (``y_J ← L_{11}^{-1} y_J``, ``y_S ← y_S - L_{21} y_J``) and ``L^T z = y`` downwards, with the
   same batches, for a block of right-hand sides at once. Each front keeps
   ``W_f = [L_{11}^{-1} - I; -L_{21} L_{11}^{-1}]``, which turns both block steps into one
   batched matrix product and one scatter-add per batch (see :class:`SparseCholesky`).

The numeric phase and the solves are torch operations on the device of the input; the ordering
and symbolic analysis run in NumPy on the CPU. Real symmetric matrices only (float32, float64);
complex Hermitian matrices are not supported.

References
----------
I. S. Duff, J. K. Reid, "The multifrontal solution of indefinite sparse symmetric linear
equations", ACM Trans. Math. Softw. 9 (1983). J. W. H. Liu, "The multifrontal method for sparse
matrix solution: theory and practice", SIAM Review 34 (1992). A. George, J. W. H. Liu, "Computer
Solution of Large Sparse Positive Definite Systems", Prentice-Hall (1981).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ._ordering import nested_dissection
from ._validation import check_real_matrix
from .exceptions import (
    InputDTypeError,
    InputError,
    InputShapeError,
    NonFiniteInputError,
    NotHermitianError,
    NotPositiveDefiniteError,
)

__all__ = ["CholeskySymbolic", "FillBudgetExceeded", "SparseCholesky", "analyse", "factor"]

Array = np.ndarray

# a batch of fronts holds at most this many entries of its padded dense front matrices
_BATCH_ENTRIES = 1 << 22
# fronts are batched when their pivot and structure counts agree within this ratio
_BUCKET = 1.4


class FillBudgetExceeded(Exception):
    """:func:`analyse` stopped: the factor would hold more than ``max_nnz_factor`` entries.

    ``nnz_lower_bound`` is the count reached when the analysis stopped (a lower bound of
    ``nnz(L)``).
    """

    def __init__(self, message: str, nnz_lower_bound: int) -> None:
        super().__init__(message)
        self.nnz_lower_bound = nnz_lower_bound


@dataclass
class _Batch:
    """Fronts factored together, padded to ``p`` pivots and ``s`` structure rows."""

    fronts: Array  # front ids, by slot
    npiv: Array  # real pivots of every slot
    p: int
    s: int
    orig_flat: torch.Tensor  # positions of the entries of M in the flattened (G, m, m) batch
    orig_src: torch.Tensor  # ... and their positions in the values of M
    diag_flat: torch.Tensor  # pivot diagonal positions (real pivots first, then padding)
    n_real_diag: int
    # (child batch, child slots, parent slots, (k, s_child) positions of the child's structure)
    children: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]]
    idx_p: torch.Tensor  # (G, p) reordered pivot indices, padding n
    idx: torch.Tensor  # (G, p + s) reordered pivot then structure indices, padding n
    last_use: int = -1  # the last batch that reads this batch's update matrices


@dataclass
class CholeskySymbolic:
    """Ordering and front structure of a sparse symmetric matrix (see :func:`analyse`).

    Attributes
    ----------
    n : int
        Order of the matrix.
    perm : Tensor
        ``(n,)`` new-to-old permutation ``P`` (row ``i`` of ``P M P^T`` is row ``perm[i]`` of M).
    nnz_factor : int
        Entries of the Cholesky factor ``L`` (lower triangle, including the diagonal).
    flops : int
        Floating-point operations of the numeric factorization (``Σ p^3/3 + p^2 s + p s^2``).
    n_fronts : int
        Number of fronts (separators and leaves) of the assembly tree.
    nnz_stored : int
        Entries the numeric factor will store (its batches padded, pivot blocks square): the
        factor's memory is ``nnz_stored`` times the element size.
    """

    n: int
    perm: torch.Tensor
    nnz_factor: int
    flops: int
    n_fronts: int
    nnz_stored: int
    front_ptr: Array = field(repr=False)
    crow: torch.Tensor = field(repr=False)
    col: torch.Tensor = field(repr=False)
    transpose: torch.Tensor = field(repr=False)  # position of the transpose of every entry
    batches: list[_Batch] = field(repr=False)


def _csr(A: object, fn: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate ``A`` and return its CSR ``(crow, col, values)``."""
    A = check_real_matrix(A, fn, "pass a real symmetric matrix.")
    if A.layout not in (torch.sparse_csr, torch.sparse_coo):
        raise InputError(
            f"{fn}: expected a sparse CSR (or COO) matrix, received layout {A.layout}; convert "
            f"with A.to_sparse_csr() (a dense matrix is better factored by torch.linalg.cholesky)."
        )
    A = A.detach()
    if A.layout == torch.sparse_coo:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            A = A.coalesce().to_sparse_csr()
    return A.crow_indices().long(), A.col_indices().long(), A.values()


def analyse(
    A: torch.Tensor, *, leaf_size: int = 16, max_nnz_factor: int | None = None
) -> CholeskySymbolic:
    """Symbolic analysis of a sparse symmetric matrix: ordering and front structure, no numerics.

    Parameters
    ----------
    A : Tensor
        Sparse CSR (or COO) real symmetric ``(n, n)`` matrix, float32 or float64, both triangles
        stored. Only its sparsity pattern is read (it must be symmetric).
    leaf_size : int
        Nested dissection stops at parts of at most this many unknowns (dense leaf fronts).
    max_nnz_factor : int, optional
        Stop and raise :class:`FillBudgetExceeded` as soon as the factor is known to hold more
        entries than this. The analysis costs ``O(nnz(A) log n)`` for the ordering plus
        ``O(min(nnz(L), max_nnz_factor))`` for the structure.

    Returns
    -------
    CholeskySymbolic
        Reusable for every matrix with the same pattern (any values, any shift).

    Raises
    ------
    FillBudgetExceeded
        When ``max_nnz_factor`` is given and exceeded.
    InputError
        For a dense or complex ``A``; :class:`~eigengrad.exceptions.NotSquareError` for a
        non-square one; :class:`~eigengrad.exceptions.NotHermitianError` for an asymmetric
        pattern.
    InputDTypeError
        For an integer, bool or half-precision ``A``.

    Examples
    --------
    >>> import eigengrad as eg
    >>> from eigengrad.testing import grid_edges
    >>> L = eg.graph_laplacian(grid_edges(40, 40), None, 1600)  # sparse COO
    >>> sym = analyse(L, leaf_size=16)
    >>> sym.nnz_factor < 25 * 1600  # a dense factor would hold 800 * 1600
    True
    """
    fn = "analyse"
    crow_t, col_t, _ = _csr(A, fn)
    n = int(A.shape[0])
    if leaf_size < 1:
        raise InputError(f"{fn}: expected leaf_size >= 1, received {leaf_size}.")
    crow = crow_t.cpu().numpy()
    col = col_t.cpu().numpy()
    row = np.repeat(np.arange(n), np.diff(crow))
    key = row * n + col
    tkey = col * n + row
    if key.size and bool(np.all(key[1:] > key[:-1])):  # sorted rows (the usual CSR)
        tpos = np.searchsorted(key, tkey).clip(max=key.size - 1)
    else:
        order = np.argsort(key, kind="stable")
        tpos = order[np.searchsorted(key[order], tkey).clip(max=max(key.size - 1, 0))]
    if key.size and not np.array_equal(key[tpos], tkey):
        raise NotHermitianError(
            f"{fn}: expected a symmetric sparsity pattern (both triangles stored), received a "
            f"pattern where some A[i, j] is stored without A[j, i]; symmetrize it, e.g. "
            f"(A + A.t()) / 2."
        )
    diss = nested_dissection(crow, col, leaf_size=leaf_size)
    perm, fptr, parent = diss.perm, diss.front_ptr, diss.parent
    nf = parent.size
    npiv = np.diff(fptr)
    budget = np.inf if max_nnz_factor is None else max_nnz_factor
    dense_part = int((npiv * (npiv + 1) // 2).sum())
    if dense_part > budget:
        raise FillBudgetExceeded(
            f"{fn}: the pivot blocks alone hold {dense_part} > max_nnz_factor = "
            f"{max_nnz_factor} entries.",
            dense_part,
        )
    iperm = np.empty(n, dtype=np.int64)
    iperm[perm] = np.arange(n)
    r, c = iperm[row], iperm[col]
    front_of = np.repeat(np.arange(nf), npiv)
    end = fptr[1:]

    # tree heights (children have smaller ids than their parents)
    height = np.zeros(nf, dtype=np.int64)
    hl = height.tolist()
    pl = parent.tolist()
    for f in range(nf):
        q = pl[f]
        if q >= 0 and hl[f] + 1 > hl[q]:
            hl[q] = hl[f] + 1
    height = np.asarray(hl, dtype=np.int64)
    nh = int(height.max()) + 1 if nf else 0

    # row structures, one tree height at a time, as sorted keys front * n + row
    low = r > c
    fo = front_of[c[low]]
    rr = r[low]
    beyond = rr >= end[fo]
    buckets: list[list[Array]] = [[] for _ in range(nh)]
    k0 = fo[beyond] * n + rr[beyond]
    h0 = height[fo[beyond]]
    o0 = np.argsort(h0, kind="stable")
    c0 = np.searchsorted(h0[o0], np.arange(nh + 1))
    for h in range(nh):
        buckets[h].append(k0[o0[c0[h] : c0[h + 1]]])
    nnz = dense_part
    struct_keys: list[Array] = []
    for h in range(nh):
        keys = np.sort(np.concatenate(buckets[h]))
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys
        buckets[h] = []
        struct_keys.append(keys)
        fk, rw = keys // n, keys % n
        nnz += int(npiv[fk].sum())
        if nnz > budget:
            raise FillBudgetExceeded(
                f"{fn}: the factor holds more than max_nnz_factor = {max_nnz_factor} entries "
                f"(at least {nnz} after {h + 1} of {nh} tree levels); the ordering cannot keep "
                f"this graph sparse (expander-like), use an iterative method instead.",
                nnz,
            )
        q = parent[fk]
        up = q >= 0
        up[up] = rw[up] >= end[q[up]]
        qk = q[up] * n + rw[up]
        qh = height[q[up]]
        oq = np.argsort(qh, kind="stable")
        qh, qk = qh[oq], qk[oq]
        cuts = np.flatnonzero(np.r_[True, qh[1:] != qh[:-1]]) if qh.size else qh
        for lo, hi in zip(cuts.tolist(), np.r_[cuts[1:], qh.size].tolist(), strict=False):
            buckets[int(qh[lo])].append(qk[lo:hi])
    skeys = np.sort(np.concatenate(struct_keys)) if struct_keys else np.zeros(0, np.int64)
    s_front, s_row = skeys // n, skeys % n
    nstr = np.bincount(s_front, minlength=nf)
    sptr = np.concatenate([[0], np.cumsum(nstr)])
    pf = npiv.astype(np.float64)
    sf = nstr.astype(np.float64)
    flops = int((pf**3 / 3 + pf**2 * sf + pf * sf**2).sum())

    batches = _batches(n, fptr, parent, height, sptr, s_row, skeys, r, c, front_of, A.device)
    return CholeskySymbolic(
        n=n,
        perm=torch.as_tensor(perm, device=A.device),
        nnz_factor=nnz,
        flops=flops,
        n_fronts=nf,
        nnz_stored=sum(b.fronts.size * (b.p + b.s) * b.p for b in batches),
        front_ptr=fptr,
        crow=crow_t,
        col=col_t,
        transpose=torch.as_tensor(tpos, device=A.device),
        batches=batches,
    )


def _batches(
    n: int,
    fptr: Array,
    parent: Array,
    height: Array,
    sptr: Array,
    s_row: Array,
    skeys: Array,
    r: Array,
    c: Array,
    front_of: Array,
    device: torch.device,
) -> list[_Batch]:
    """Group the fronts into batches (by height, then size) and index their assembly."""
    nf = parent.size
    npiv = np.diff(fptr)
    nstr = np.diff(sptr)
    m = npiv + nstr
    # batches: fronts of one height with pivot and structure counts in the same geometric
    # buckets (ratio _BUCKET), so padding costs at most about _BUCKET^2, bounded in memory
    bucket_p = np.ceil(np.log(npiv) / np.log(_BUCKET)).astype(np.int64)
    bucket_s = np.ceil(np.log(nstr + 1) / np.log(_BUCKET)).astype(np.int64)
    order = np.lexsort((m, bucket_s, bucket_p, height))
    key = np.stack([height, bucket_p, bucket_s])[:, order]
    cuts = np.flatnonzero(np.any(key[:, 1:] != key[:, :-1], axis=0)) + 1
    bounds = [0]
    for lo, hi in zip(
        np.r_[0, cuts].tolist(), np.r_[cuts, nf].tolist() if nf else [], strict=False
    ):
        # the largest front of a bucket is last (sorted by m): split by memory
        mx = int(m[order[hi - 1]]) ** 2
        step = max(1, _BATCH_ENTRIES // max(mx, 1))
        bounds.extend(range(lo + step, hi, step))
        bounds.append(hi)
    nb = len(bounds) - 1
    grp = np.empty(nf, dtype=np.int64)
    slot = np.empty(nf, dtype=np.int64)
    bp = np.zeros(nb, dtype=np.int64)
    bs = np.zeros(nb, dtype=np.int64)
    for b in range(nb):
        fr = order[bounds[b] : bounds[b + 1]]
        grp[fr] = b
        slot[fr] = np.arange(fr.size)
        bp[b] = npiv[fr].max()
        bs[b] = nstr[fr].max()
    bm = bp + bs

    def local(f: Array, rows: Array) -> Array:
        """Position of the reordered rows ``rows`` in the padded front matrix of ``f``."""
        piv = rows < fptr[f + 1]
        pos = np.searchsorted(skeys, f * n + rows) - sptr[f] + bp[grp[f]]
        return np.where(piv, rows - fptr[f], pos)

    # entries of M: column c (reordered, c <= r) belongs to the front of c
    low = r >= c
    src = np.flatnonzero(low)
    fo = front_of[c[src]]
    lr = local(fo, r[src])
    lc = c[src] - fptr[fo]
    mm = bm[grp[fo]]
    flat = slot[fo] * mm * mm + lr * mm + lc
    eg = grp[fo]
    eorder = np.argsort(eg, kind="stable")
    eptr = np.searchsorted(eg[eorder], np.arange(nb + 1))

    # child structure positions in the parent front
    child = np.flatnonzero(parent >= 0)
    s_front = np.repeat(np.arange(nf), nstr)
    has_parent = parent[s_front] >= 0
    sf = s_front[has_parent]
    rel = local(parent[sf], s_row[has_parent])
    rel_pad: list[Array] = [np.zeros((0, 0), dtype=np.int64)] * nb
    for b in range(nb):
        rel_pad[b] = np.zeros((bounds[b + 1] - bounds[b], int(bs[b])), dtype=np.int64)
    within = np.arange(s_row.size)[has_parent] - sptr[sf]
    gs = grp[sf]
    og = np.argsort(gs, kind="stable")
    cg = np.searchsorted(gs[og], np.arange(nb + 1))
    for b in range(nb):
        sel = og[cg[b] : cg[b + 1]]
        rel_pad[b][slot[sf[sel]], within[sel]] = rel[sel]
    # children grouped by (parent batch, child batch)
    pg, chg = grp[parent[child]], grp[child]
    oc = np.lexsort((chg, pg))
    child, pg, chg = child[oc], pg[oc], chg[oc]
    starts = np.flatnonzero(np.r_[True, (pg[1:] != pg[:-1]) | (chg[1:] != chg[:-1])])
    starts = starts[starts < child.size]
    pairs_of: list[list[tuple[int, Array]]] = [[] for _ in range(nb)]
    ends = np.r_[starts[1:], child.size] if starts.size else starts
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        pairs_of[int(pg[lo])].append((int(chg[lo]), child[lo:hi]))

    def tens(x: Array) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.int64, device=device)

    batches: list[_Batch] = []
    for b in range(nb):
        fr = order[bounds[b] : bounds[b + 1]]
        p, s, mb = int(bp[b]), int(bs[b]), int(bm[b])
        g = fr.size
        sl = np.arange(g)
        # pivot diagonals: real ones, then padding
        ii = np.arange(p)
        real = ii[None, :] < npiv[fr][:, None]
        dflat = (sl[:, None] * mb * mb + ii[None, :] * (mb + 1)).astype(np.int64)
        diag_flat = np.concatenate([dflat[real], dflat[~real]])
        idx_p = np.where(real, fptr[fr][:, None] + ii[None, :], n)
        jj = np.arange(s)
        sreal = jj[None, :] < nstr[fr][:, None]
        sidx = np.minimum(sptr[fr][:, None] + jj[None, :], max(s_row.size - 1, 0))
        idx_s = np.where(sreal, s_row[sidx] if s_row.size else n, n)
        kids = []
        for cb, cha in pairs_of[b]:
            kids.append(
                (cb, tens(slot[cha]), tens(slot[parent[cha]]), tens(rel_pad[cb][slot[cha]]))
            )
            batches[cb].last_use = b
        ent = eorder[eptr[b] : eptr[b + 1]]
        batches.append(
            _Batch(
                fronts=fr,
                npiv=npiv[fr],
                p=p,
                s=s,
                orig_flat=tens(flat[ent]),
                orig_src=tens(src[ent]),
                diag_flat=tens(diag_flat),
                n_real_diag=int(real.sum()),
                children=kids,
                idx_p=tens(idx_p),
                idx=tens(np.concatenate([idx_p, idx_s], axis=1)),
            )
        )
    return batches


class SparseCholesky:
    """Factor ``A + shift I = P^T L L^T P`` of a sparse symmetric matrix (see :func:`factor`).

    Every front ``f`` keeps ``W_f = [L_{11}^{-1} - I; -L_{21} L_{11}^{-1}]`` (``(p + s) × p``,
    batched and padded with zeros), so that each sweep of a solve is one gather, one batched
    product and one scatter-add per batch of fronts:

    - forward (``L y = b``): ``y_{J ∪ S} += W_f y_J`` gives ``y_J ← L_{11}^{-1} y_J`` and
      ``y_S ← y_S - L_{21} y_J``;
    - backward (``L^T z = y``): ``z_J += W_f^T z_{J ∪ S}`` gives
      ``z_J ← L_{11}^{-T} (z_J - L_{21}^T z_S)``.

    The explicit inverse of the (small, well-conditioned relative to ``M``: ``κ(L_{11}) <=
    κ(M)^{1/2}``) triangular pivot blocks turns the block triangular solves into matrix products.

    Attributes
    ----------
    symbolic : CholeskySymbolic
        The analysis the factor was computed with.
    shift : float
        The diagonal shift.
    dtype : torch.dtype
        The factor's dtype (that of ``A``).
    """

    def __init__(
        self, symbolic: CholeskySymbolic, shift: float, W: list[torch.Tensor], dtype: torch.dtype
    ) -> None:
        self.symbolic = symbolic
        self.shift = shift
        self._W = W
        self.dtype = dtype

    def solve(self, B: torch.Tensor) -> torch.Tensor:
        """Solve ``(A + shift I) X = B``.

        Parameters
        ----------
        B : Tensor
            ``(n,)`` or ``(n, m)`` right-hand sides, of the factor's dtype and device.

        Returns
        -------
        Tensor
            ``X``, of the shape of ``B``.

        Raises
        ------
        InputShapeError
            When ``B`` is not ``(n,)`` or ``(n, m)``.
        InputDTypeError
            When ``B``'s dtype differs from the factor's.
        """
        sym = self.symbolic
        n = sym.n
        if not isinstance(B, torch.Tensor) or B.ndim not in (1, 2) or B.shape[0] != n:
            raise InputShapeError(
                f"SparseCholesky.solve: expected a tensor B of shape ({n},) or ({n}, m), "
                f"received {tuple(B.shape) if isinstance(B, torch.Tensor) else type(B)}."
            )
        if B.dtype != self.dtype:
            raise InputDTypeError(
                f"SparseCholesky.solve: expected B of dtype {self.dtype} (the factor's), "
                f"received {B.dtype}; convert it with B.to({self.dtype})."
            )
        vec = B.ndim == 1
        Bm = B.detach().reshape(n, 1) if vec else B.detach()
        k = Bm.shape[1]
        # row n is a zero sink for the padding (padded rows and columns of W are zero)
        y = torch.zeros(n + 1, k, dtype=self.dtype, device=Bm.device)
        torch.index_select(Bm, 0, sym.perm, out=y[:n])
        for bt, W in zip(sym.batches, self._W, strict=True):
            g, p = W.shape[0], W.shape[2]
            yJ = y.index_select(0, bt.idx_p.reshape(-1)).view(g, p, k)
            y.index_add_(0, bt.idx.reshape(-1), torch.bmm(W, yJ).reshape(-1, k))
        for bt, W in zip(reversed(sym.batches), reversed(self._W), strict=True):
            g, p = W.shape[0], W.shape[2]
            yA = y.index_select(0, bt.idx.reshape(-1)).view(g, -1, k)
            zJ = torch.baddbmm(yA[:, :p], W.mT, yA)
            y.index_copy_(0, bt.idx_p.reshape(-1), zJ.reshape(-1, k))
        X = torch.empty_like(Bm).index_copy_(0, sym.perm, y[:n])
        return X.reshape(n) if vec else X


def factor(symbolic: CholeskySymbolic, A: torch.Tensor, shift: float = 0.0) -> SparseCholesky:
    """Numeric multifrontal Cholesky factorization of ``A + shift I``.

    Parameters
    ----------
    symbolic : CholeskySymbolic
        :func:`analyse` of a matrix with the same sparsity pattern as ``A``.
    A : Tensor
        Sparse CSR (or COO) real symmetric ``(n, n)`` matrix, float32 or float64.
    shift : float
        Diagonal shift; ``A + shift I`` must be positive definite.

    Returns
    -------
    SparseCholesky
        The factor, with :meth:`SparseCholesky.solve`.

    Raises
    ------
    NotPositiveDefiniteError
        When ``A + shift I`` is not positive definite (naming the unknown whose pivot failed);
        raise ``shift`` (or lower the shift-invert target) and factor again.
    NotHermitianError
        When ``A`` is asymmetric beyond rounding.
    NonFiniteInputError
        When ``A`` has NaN or infinite entries.
    InputError
        When ``A``'s pattern differs from the analysed one, or for invalid input as in
        :func:`analyse`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> from eigengrad.testing import grid_edges
    >>> L = eg.graph_laplacian(grid_edges(30, 30), None, 900)
    >>> chol = factor(analyse(L), L, shift=0.1)
    >>> b = torch.ones(900, dtype=torch.float64)
    >>> torch.allclose(chol.solve(b), b / 0.1)
    True
    """
    fn = "factor"
    crow, col, vals = _csr(A, fn)
    sym = symbolic
    if (
        A.shape[0] != sym.n
        or crow.shape != sym.crow.shape
        or col.shape != sym.col.shape
        or not torch.equal(crow.to(sym.crow.device), sym.crow)
        or not torch.equal(col.to(sym.col.device), sym.col)
    ):
        raise InputError(
            f"{fn}: expected A with the sparsity pattern analysed ({sym.n} × {sym.n}, "
            f"{sym.col.numel()} stored entries), received {tuple(A.shape)} with {col.numel()} "
            f"entries or another pattern; call analyse(A) again."
        )
    if not bool(torch.isfinite(vals).all()):
        raise NonFiniteInputError(f"{fn}: A has NaN or infinite entries; expected finite ones.")
    scale = float(vals.abs().max()) if vals.numel() else 0.0
    asym = float((vals - vals[sym.transpose.to(vals.device)]).abs().max()) if vals.numel() else 0.0
    tol = 100 * torch.finfo(vals.dtype).eps * scale
    if asym > tol:
        raise NotHermitianError(
            f"{fn}: expected a symmetric A, received max |A - A^T| = {asym:.3g} "
            f"(tolerance {tol:.3g}); symmetrize it, e.g. (A + A.t()) / 2."
        )
    dt, dev = vals.dtype, vals.device
    Ws: list[torch.Tensor] = []
    updates: list[torch.Tensor | None] = []
    for b, bt in enumerate(sym.batches):
        g, p, s = bt.fronts.size, bt.p, bt.s
        mb = p + s
        F = torch.zeros(g * mb * mb, dtype=dt, device=dev)
        F[bt.orig_flat] = vals[bt.orig_src]
        add = torch.ones(bt.diag_flat.numel(), dtype=dt, device=dev)  # padded pivots: identity
        add[: bt.n_real_diag] = shift
        F.index_add_(0, bt.diag_flat, add)
        # extend-add of the children's update matrices
        for cb, cslot, pslot, rel in bt.children:
            U = updates[cb]
            assert U is not None
            idx = pslot[:, None, None] * (mb * mb) + rel[:, :, None] * mb + rel[:, None, :]
            F.index_add_(0, idx.reshape(-1), U[cslot].reshape(-1))
        for cb, *_ in bt.children:
            if sym.batches[cb].last_use == b:
                updates[cb] = None
        F = F.view(g, mb, mb)
        L11, info = torch.linalg.cholesky_ex(F[:, :p, :p])
        if bool((info > 0).any()):
            bad = int(torch.nonzero(info > 0)[0, 0])
            i = int(info[bad]) - 1
            new = int(sym.front_ptr[int(bt.fronts[bad])]) + i
            raise NotPositiveDefiniteError(
                f"{fn}: expected A + shift·I positive definite (shift = {shift:g}), but the "
                f"Cholesky pivot of row {int(sym.perm[new])} (the {new + 1}-th of {sym.n} "
                f"eliminated) is not positive; raise the shift above -λ_min(A) and factor again.",
                index=int(sym.perm[new]),
            )
        eye = torch.eye(p, dtype=dt, device=dev).expand(g, p, p)
        Linv = torch.linalg.solve_triangular(L11, eye, upper=False)
        W = torch.empty(g, mb, p, dtype=dt, device=dev)
        torch.sub(Linv, eye, out=W[:, :p])
        U = None
        if s:
            L21 = torch.bmm(F[:, p:, :p], Linv.mT)  # F21 L11^{-T}
            torch.bmm(L21, Linv, out=W[:, p:]).neg_()
            if bt.last_use >= 0:
                U = torch.baddbmm(F[:, p:, p:], L21, L21.mT, alpha=-1)
        Ws.append(W)
        updates.append(U)
    return SparseCholesky(sym, float(shift), Ws, dt)
