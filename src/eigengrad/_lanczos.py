"""Block thick-restart Lanczos for the smallest eigenpairs of a Hermitian operator (no autograd).

A block Krylov basis ``V = [V_1, ..., V_s]`` (block size ``p`` = columns of the start block) is
grown with full reorthogonalization, so that after each block step

    ``A V = V T + Q S``,  ``V^H V = I``,  ``V^H Q = 0``,  ``Q^H Q = I``,

with ``T = V^H A V`` Hermitian (read off the Gram-Schmidt coefficients) and ``Q`` the next block,
not yet multiplied by ``A``. Rayleigh-Ritz on ``T = U Θ U^H`` gives Ritz pairs ``(θ_i, V u_i)``
whose residuals are ``A V u_i - θ_i V u_i = Q S u_i``, so ``‖S u_i‖`` estimates them without a
product. When the basis is full it is restarted in Krylov-Schur form (Stewart 2001; for
symmetric ``A`` this is the thick restart of Wu and Simon 2000): ``V ← V U_l``, ``T ← Θ_l``,
``S ← S U_l`` for the ``l`` smallest Ritz pairs, and the relation above still holds, so the
expansion continues from ``Q``. Converged estimates are confirmed with an explicit product
``A X`` and a final Rayleigh-Ritz step on ``X`` before returning.

The dense work per block step is ``O(n · j · p)`` for a basis of ``j`` columns: two passes of
block classical Gram-Schmidt, the first against the blocks that couple to ``Q`` in exact
arithmetic (the previous block, or all kept Ritz vectors after a restart), the second against
the whole basis, plus a third on the new block when its singular values show cancellation.
Rayleigh-Ritz on ``T`` (``O(j^3)``) runs only every few steps and at restarts. A block that
loses rank (an invariant subspace was
found: breakdown, or deflation of one direction of the block) is completed with seeded random
vectors orthogonalized against the basis; their rows of ``S`` are zero. With block size ``p``
every eigenvalue of multiplicity ``<= p`` is found with all its copies.

Lazy passes (``lazy=True``, narrow unfiltered blocks). In exact arithmetic the first pass
suffices; the second only removes what rounding put along the older vectors ``V_o``. Write
``E_i = V_o^H Q_i`` for that component of block ``i``. If the second pass is skipped at step
``i``, the next block carries ``E_{i+1} B_{i+1} ≈ (T_o E_i - E_i α_i) - E_{i-1} B_i^H + F_i``
(Paige's recurrence for the loss of orthogonality, with ``F_i`` the rounding of step ``i``,
``O(ε ‖A‖)``). After a full step ``E`` is ``O(ε)``, so skipping every other step leaves only
the term ``E_{i-1} B_i^H B_{i+1}^{-1}`` to accumulate: a product of ratios of consecutive
``B`` that stays ``O(1)`` on random graphs (skipped blocks carry 140-480 ε at ``10^5``
nodes, against 8-25 ε after a full pass) but grows geometrically when those ratios alternate
(a chain with alternating weights 1 and 0.1: the unguarded iteration returns wrong
eigenvalues). Skipping two steps in a row multiplies ``E`` by ``‖A‖ / σ_min(B)`` per step and
diverged on random graphs too, so it is never done. A step therefore skips the pass only if
the previous one did not, the new block shows no cancellation (``σ_min(B) >= 10^-2 ‖A‖``),
and a random sketch of ``V_o`` (:class:`_Sketch`, four combinations, folded in as rows leave
the window) estimates ``‖E_{i+1}‖ <= tol / 16``; otherwise the pass runs. The basis then stays
orthonormal to about ``tol / 16``, the relation ``A V = V T + Q S`` holds to about
``tol ‖A‖ / 16``, and the Ritz vectors are orthonormalized (QR) before the final Rayleigh-Ritz
step. The saving is half the second passes, the larger part of the dense work when ``p`` is
small (a product of ``p <= 6`` rows with the basis reads it once per row).

Optionally (``degree > 1``) the expansion runs on a Chebyshev polynomial ``T_d(y(A))`` that maps
the unwanted part of the spectrum into ``[-1, 1]`` and the wanted end monotonically below
``-1`` (the filter of Zhou and Saad's Chebyshev-Davidson method, 2007): ``d`` sparse products per
block step buy a much larger gap ratio, so the dense work per product drops about ``d``-fold.

Limitations: a Krylov method only sees the part of the spectrum its start block reaches; if the
start block lies in an invariant subspace (or is orthogonal to a wanted eigenvector) the seeded
random completion after a breakdown usually, but not provably, recovers the missed eigenvalues.
Block size ``p`` costs about ``p`` times more products than a single-vector method on spectra
with simple eigenvalues (the price of finding multiplicities up to ``p``). The block can
therefore start narrow (``block=``) and be widened when ``p`` copies of one eigenvalue appear
(see :func:`lanczos`).

References
----------
Golub and Underwood, "The block Lanczos method for computing eigenvalues" (1977); Wu and Simon,
"Thick-restart Lanczos method for large symmetric eigenvalue problems", SIAM J. Matrix Anal.
Appl. 22 (2000); Stewart, "A Krylov-Schur algorithm for large eigenproblems", SIAM J. Matrix Anal.
Appl. 23 (2001); Baglama, Calvetti and Reichel, "IRBL: an implicitly restarted block Lanczos
method" (2003); Zhou and Saad, "A Chebyshev-Davidson algorithm for large symmetric
eigenproblems", SIAM J. Matrix Anal. Appl. 29 (2007); Giraud, Langou and Rozložník, "The loss
of orthogonality in the Gram-Schmidt orthogonalization process" (2005, "twice is enough").
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import torch

from ._lobpcg import LobpcgResult, random_block
from .exceptions import InputError

Matmat = Callable[[torch.Tensor], torch.Tensor]

# Default basis size in blocks of ``p`` columns, and Ritz vectors kept at a restart, as fractions
# of the basis (measured on graph Laplacians, see the module notes in ``lanczos``).
DEFAULT_BLOCKS = 10
KEEP_FRACTION = 0.5
# A narrow block (p < m) holds NARROW_BASIS · m columns and keeps a third of them: on random graph
# Laplacians (k = 8, m = 12, p = 2) 48 / 16 took 164 / 180 steps at 10^5 / 3·10^5 nodes and
# 9-10% less time than 36 / 18 (176 / 192 steps); a third, not half, because each restart
# multiplies the basis by a (basis × keep) matrix, which costs about as much as 4 block steps
NARROW_BASIS = 4
NARROW_KEEP = 1 / 3
_FILL_SEED = 12345
CHECK_EVERY = 4
# lazy second passes need tol / 16 well above the rounding a skipped pass leaves (140-480 eps
# measured): float64 at its default tol passes, float32 (tol = eps^(2/3)) does not
LAZY_MIN_TOL = 16_000
# Chebyshev filter degree after the first cycle (1: plain block Lanczos), measured on graph
# Laplacians at n = 1e4 and 1e5: 9 beats 1 and 15.
DEFAULT_DEGREE = 9


def _transposed(X: torch.Tensor) -> torch.Tensor:
    """``X^T`` in a new contiguous tensor, by one strided copy per line of the short side.

    Moves the ``(n, p)`` blocks between the row layout of the basis and the ``(n, p)`` layout the
    sparse product takes: for ``p = 2`` torch's generic transposing copy is 4x slower. Never a
    view of ``X`` (the caller updates the result in place). Two real rows are interleaved as the
    real and imaginary parts of one complex vector (0.08 ms against 0.31 ms for ``n = 10^5``);
    on the CPU, two real columns are split by numpy's transposing copy (0.1 ms against 0.3 ms).
    """
    if min(X.shape) > 16:
        return X.mT.clone(memory_format=torch.contiguous_format)
    if X.shape[0] == 2 and X.dtype in (torch.float32, torch.float64):
        return torch.view_as_real(torch.complex(X[0], X[1]))
    if X.shape[1] == 2 and X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.array(X.detach().numpy().T, order="C"))
    out = torch.empty(X.shape[1], X.shape[0], dtype=X.dtype, device=X.device)
    if X.shape[0] <= X.shape[1]:
        for i in range(X.shape[0]):
            out[:, i] = X[i]
    else:
        for i in range(X.shape[1]):
            out[i] = X[:, i]
    return out


def _project(
    W: torch.Tensor, V: torch.Tensor, passes: int = 2, inplace: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove from the rows of ``W`` their components along the orthonormal rows of ``V``.

    Vectors are rows (``W`` is ``(p, n)``, ``V`` is ``(j, n)``): the basis lives in a row-major
    buffer and the two products then run on contiguous rows. Returns ``(W, C)`` with
    ``C = conj(V) W^T`` ``(j, p)``, the coefficients ``V^H W`` of the column convention. The
    first pass writes a new contiguous ``W`` unless ``inplace`` (``W`` contiguous and owned).
    """
    c = torch.zeros(W.shape[0], V.shape[0], dtype=W.dtype, device=W.device)
    if V.shape[0] == 0:
        return W, c.mT
    for i in range(passes):
        ci = W @ V.mH
        W = W.addmm_(ci, V, alpha=-1) if inplace or i else torch.addmm(W, ci, V, alpha=-1)
        c = c + ci
    return W, c.mT


def _next_block(
    W: torch.Tensor, V: torch.Tensor, drop: float, ref: float, seed: int, size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal rows ``Q`` and ``B`` with ``W^T ≈ Q^T B``, ``Q ⊥ V``; ``W`` is already ``⊥ V``.

    Rows are vectors (see :func:`_project`). Rank-revealing: ``W^T = Q_r R``,
    ``R = U Σ Z^H``; directions with ``σ <= drop`` are dropped (``W`` is treated as exactly
    rank-deficient, an error of at most ``drop``) and replaced by seeded random vectors
    orthogonal to ``V`` (zero rows of ``B``), as long as the space ``n - V.shape[0]`` has room
    for them. ``ref`` is the size of ``W`` before the projection.
    """
    p = W.shape[0]
    size = p if size is None else size
    Qr, R = torch.linalg.qr(W.mT)
    Ur, sig, Zh = torch.linalg.svd(R)
    keep = sig > drop
    if bool(keep.all()):  # full rank: W^T = Qr R, no need to rotate Qr (an O(n p^2) product)
        Q, B = Qr.mT, R
    else:
        Q = Ur[:, keep].mT @ Qr.mT
        B = sig[keep, None].to(W.dtype) * Zh[keep]
    # Classical Gram-Schmidt twice is enough unless W itself was tiny (near breakdown): then
    # the kept directions carry relative errors eps ‖W‖ / σ, cleaned up by one more pass.
    if Q.shape[0] and V.shape[0] and float(sig[keep].min()) < 1e-2 * ref:
        Q, _ = _project(Q, V, passes=1)
        Qc, R3 = torch.linalg.qr(Q.mT)
        Q, B = Qc.mT, R3 @ B
    return _complete(Q, B, V, size, seed)


def _complete(
    Q: torch.Tensor, B: torch.Tensor, V: torch.Tensor, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Complete the next block ``Q`` (rows, ``⊥ V``) to ``size`` rows with seeded random ones.

    The new rows of ``B`` are zero, so ``A V = V T + Q B`` still holds; stops when ``[V, Q]``
    fills the space.
    """
    n = Q.shape[1]
    need = min(size - Q.shape[0], n - V.shape[0] - Q.shape[0])
    if need > 0:
        Z = random_block(n, need, Q.dtype, Q.device, seed).mT
        Z, _ = _project(Z, torch.cat([V, Q], 0))
        Zq, Rz = torch.linalg.qr(Z.mT)
        d = Rz.diagonal().abs()
        ok = d > 1e-3 * torch.linalg.vector_norm(Z, dim=1).max()
        Q = torch.cat([Q, Zq[:, ok].mT], 0)
        B = torch.cat([B, B.new_zeros(int(ok.sum()), B.shape[1])], 0)
    return Q, B


def _rank_drop(eps: float, cols: int, scale: float) -> float:
    """Singular values of a new block at or below this count as zero (a basis of ``cols``)."""
    return 10 * eps * cols**0.5 * scale


class _Sketch:
    """Random combinations ``Z = G V[:rows]`` of basis rows, to estimate ``‖V[:rows]^H q‖``.

    ``G`` is ``(s, cap)`` standard normal, so for a vector ``q`` each entry of ``q Z^H`` is
    ``e^T g`` with ``e = conj(V[:rows]) q^T``, a normal variable of variance ``‖e‖^2`` (real
    case). The mean of the ``s`` squares estimates ``‖e‖^2``; with ``s = 4`` it falls below a
    tenth of ``‖e‖`` with probability about ``2·10^-4``. Rows are folded into ``Z`` when the
    caller first asks about them (``O(n s)`` per row); :meth:`reset` after the rows change.
    """

    def __init__(self, s: int, cap: int, like: torch.Tensor, seed: int) -> None:
        self.G = random_block(s, cap, like.real.dtype, like.device, seed).to(like.dtype)
        self.Z = like.new_zeros(s, like.shape[1])
        self.rows = 0

    def reset(self) -> None:
        self.Z.zero_()
        self.rows = 0

    def norm(self, Q: torch.Tensor, V: torch.Tensor) -> float:
        """Estimated largest ``‖V^H q‖`` over the rows ``q`` of ``Q``; ``V`` extends the rows."""
        if self.rows < V.shape[0]:
            self.Z.addmm_(self.G[:, self.rows : V.shape[0]], V[self.rows :])
            self.rows = V.shape[0]
        return float((Q @ self.Z.mH).abs().square().mean(1).max()) ** 0.5


def _lazy_block(
    W: torch.Tensor, old: torch.Tensor, sketch: _Sketch, drop: float, ref: float, tau: float
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Next block ``(Q, B)`` from ``W`` projected against the window only, or ``None``.

    ``None`` (run the full pass) when ``B`` shows cancellation (``σ_min < 10^-2 ref``, which
    magnifies the rounding left along ``old``) or loses rank, or when the sketch estimates
    that a row of ``Q`` has a component above ``tau`` along the rows of ``old``.
    """
    Qr, R = torch.linalg.qr(W.mT)
    if float(torch.linalg.svdvals(R).min()) <= max(drop, 1e-2 * ref):
        return None
    Q = Qr.mT
    if sketch.norm(Q, old) > tau:
        return None
    return Q, R


def _largest_cluster(w: torch.Tensor, delta: float) -> int:
    """Size of the largest run of ascending ``w`` whose consecutive gaps are ``<= delta``."""
    if w.numel() < 2:
        return int(w.numel())
    breaks = torch.nonzero(w.diff() > delta).flatten().tolist()
    edges = [-1, *breaks, w.numel() - 1]
    return max(b - a for a, b in pairwise(edges))


def _chebyshev_filter(apply: Matmat, c: float, hi: float, degree: int) -> Matmat:
    """``V -> T_d(y(A)) V``, ``y(x) = (2x - hi - c) / (hi - c)``, ``d`` odd.

    ``|T_d| <= 1`` on ``[c, hi]``; below ``c`` it is negative and decreasing, above ``hi``
    positive and increasing (``d`` odd), so the smallest eigenvalues of the filtered operator
    belong to the smallest eigenvalues of ``A`` below ``c``, in the same order, even when
    ``hi`` underestimates ``λ_max``. Three-term recurrence, ``d`` products.
    """
    e, ctr = (hi - c) / 2, (hi + c) / 2

    def filt(V: torch.Tensor) -> torch.Tensor:
        Y0, Y1 = V, (apply(V) - ctr * V) / e
        for _ in range(degree - 1):
            Y0, Y1 = Y1, (apply(Y1) - ctr * Y1) * (2 / e) - Y0
        return Y1

    return filt


def lanczos(
    apply: Matmat,
    X0: torch.Tensor,
    k: int,
    *,
    tol: float,
    max_iter: int,
    basis: int | None = None,
    keep: int | None = None,
    degree: int = DEFAULT_DEGREE,
    block: int | None = None,
    lazy: bool = False,
) -> LobpcgResult:
    r"""Smallest ``m = X0.shape[1]`` Ritz pairs of ``A``; iterate until the first ``k`` converge.

    Same contract as :func:`eigengrad._lobpcg.lobpcg`; block thick-restart Lanczos with block
    size ``m`` and full reorthogonalization.

    Parameters
    ----------
    apply : callable
        ``V -> A V`` for Hermitian ``A`` (real or complex, any device, no autograd).
    X0 : Tensor
        Start block ``(n, m)``, ``k <= m <= n``; columns ``k..m-1`` are guard vectors. A
        rank-deficient block is completed with seeded random vectors.
    k : int
        Number of wanted eigenpairs; convergence is tested on the first ``k`` Ritz pairs:
        ``‖A x_i - θ_i x_i‖ <= tol · ‖A‖_est`` with ``‖A‖_est`` the largest ``|θ|`` seen.
    tol : float
        Relative residual tolerance.
    max_iter : int
        Maximum number of block steps (products of ``A`` with a block of ``<= m`` columns).
    basis : int, optional
        Maximum basis size (columns) before a restart; default ``10 m``, at least ``2 m``,
        capped at ``n`` (then the whole space is spanned and the result is exact).
    keep : int, optional
        Ritz vectors kept at a restart; default half the basis (a third with ``block < m``), at
        least ``m`` and at most ``basis - m``.
    degree : int
        Polynomial filtering (default 9; 1: none). With ``degree = d > 1`` (rounded up to odd),
        the first basis cycle runs on ``A`` and gives a cut ``c`` (a Ritz value above the
        wanted ones; by interlacing at least ``2 m`` eigenvalues lie below it) and an upper
        estimate ``hi`` of the spectrum; the expansion then runs on ``T_d(y(A))``, the
        Chebyshev polynomial mapping ``[c, hi]`` to ``[-1, 1]``: ``d`` products per block step
        and about ``d`` times less dense work per product. Convergence is then tested on
        ``A`` with explicit products.

    block : int, optional
        Block size ``p`` (default ``m``). With ``p < m`` the start block is ``p`` seeded random
        combinations of the columns of ``X0`` and the basis holds ``max(10 p, 4 m)`` columns by
        default. A Krylov space of block size ``p`` holds at most ``p`` directions of an
        eigenspace, so whenever a confirmed set of Ritz values contains ``p`` copies of one
        eigenvalue (within ``sqrt(tol) ‖A‖``) the block is widened with seeded random
        directions (to ``min(m, max(2 p, copies + p))``) and the iteration goes on, accepting
        convergence only after as many steps again as the first convergence took (the copies
        the new directions bring need about that long to show). Every copy of an eigenvalue of
        multiplicity up to ``m`` is then found (tested: an 11-fold eigenvalue from ``p = 2``),
        unless a start block is orthogonal to an eigenvector (probability zero for random
        blocks) or the new copies converge much more slowly than the first ones; the price is
        ``p`` rather than ``m`` products per step on simple spectra.
    lazy : bool
        With a narrow block and ``degree = 1``, skip the second Gram-Schmidt pass at every
        other step when a random sketch shows that the new block stays orthogonal to the
        older basis vectors to ``tol / 16`` (module notes, "Lazy passes"). Ignored unless
        ``tol >= 16000 eps`` (float64 at its default tol; not float32, whose skipped passes
        leave more than ``tol / 16``). Default ``False``.

    Returns
    -------
    LobpcgResult
        Ascending Ritz values ``(m,)``, orthonormal Ritz vectors ``(n, m)``, residual norms
        recomputed with an explicit product, ``iterations`` = block steps taken (each is
        ``degree`` products with a block of at most ``m`` columns; the explicit confirmation
        products are not counted), and ``norm_estimate``.

    Raises
    ------
    InputError
        If ``X0`` is not a ``(n, m)`` block with ``k <= m <= n``.

    Notes
    -----
    Each block step multiplies the newest block ``Q`` by ``A``, orthogonalizes ``A Q`` against
    the whole basis (two passes of block classical Gram-Schmidt, whose coefficients form the new
    columns of ``T = V^H A V``), and splits the remainder rank-revealingly into the next block
    and ``S`` (``A V = V T + Q S``). Ritz residual estimates ``‖S u_i‖`` drive the loop; the
    returned residuals are exact. Deterministic given ``X0``.

    References
    ----------
    Wu and Simon 2000 (thick restart); Stewart 2001 (Krylov-Schur); Golub and Underwood 1977
    (block Lanczos).

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.arange(1.0, 101.0, dtype=torch.float64))
    >>> X0 = torch.ones(100, 3, dtype=torch.float64).cumsum(0) ** torch.arange(3.0)
    >>> out = lanczos(lambda V: A @ V, X0, 2, tol=1e-12, max_iter=100)
    >>> out.eigenvalues.round(decimals=8).tolist()
    [1.0, 2.0, 3.0]
    """
    if X0.ndim != 2 or not 0 <= k <= X0.shape[1] <= X0.shape[0]:
        raise InputError(
            f"eigengrad.lanczos: expected a start block X0 of shape (n, m) with k <= m <= n, "
            f"received shape {tuple(X0.shape)} and k={k}. Pass at most n columns and at least "
            f"k."
        )
    n, m = X0.shape
    dtype, device = X0.dtype, X0.device
    real = torch.empty((), dtype=dtype).real.dtype
    eps = torch.finfo(real).eps
    tiny = torch.finfo(real).tiny
    width = m if block is None else max(1, min(block, m))
    narrow = width < m
    default_cap = max(DEFAULT_BLOCKS * width, NARROW_BASIS * m) if narrow else DEFAULT_BLOCKS * m
    cap = n if basis is None and default_cap >= n else (basis or default_cap)
    cap = min(max(cap, 2 * m), n)
    if keep is None:
        keep = int((NARROW_KEEP if narrow else KEEP_FRACTION) * cap)
    keep = max(m, min(keep, cap - m))

    # start block: orthonormal, completed deterministically if rank-deficient
    norms = torch.linalg.vector_norm(X0, dim=0)
    nonzero = norms > tiny**0.5
    Xs = X0 * torch.where(nonzero, 1 / torch.where(nonzero, norms, 1.0), 0.0).to(dtype)
    if width < m:  # a smaller block starts from random combinations of the given columns
        Xs = Xs @ random_block(m, width, dtype, device, _FILL_SEED - 1)
    # vectors are rows: the basis is Vbuf[:j] (row-major), the next block Q is (p, n)
    Q, _ = _next_block(Xs.mT, X0[:, :0].mT, 100 * eps * m, 1.0, _FILL_SEED)
    Vbuf = torch.empty(cap, n, dtype=dtype, device=device)
    j = lo = 0
    T = torch.zeros(0, 0, dtype=dtype, device=device)
    norm_est = 0.0
    steps = 0
    confirm = 1.0  # confirmation threshold factor, tightened after a failed confirmation
    op = apply
    filtered = False
    hold = 0  # no convergence accepted before this step (after the block was widened)
    lazy = lazy and narrow and degree == 1 and tol >= LAZY_MIN_TOL * eps
    sketch = _Sketch(4, cap, Vbuf, _FILL_SEED + 1) if lazy else None
    skipped = False  # the second pass was skipped at the previous step
    op_scale = 0.0  # largest |Ritz value| of the operator being expanded

    def copies(w: torch.Tensor) -> int:
        """Count the copies of the most repeated value in ascending ``w`` (within sqrt(tol) ‖A‖)."""
        return _largest_cluster(w, tol**0.5 * max(norm_est, tiny))

    while True:
        p = Q.shape[0]
        Vbuf[j : j + p] = Q
        W = _transposed(op(_transposed(Q)))
        steps += 1
        # Pass 1 against the blocks that couple to Q in exact arithmetic (the previous block, or
        # all kept Ritz vectors right after a restart), pass 2 against the whole basis (lazy:
        # skipped at every other step if the sketch allows, module notes).
        W, C1 = _project(W, Vbuf[lo : j + p], passes=1, inplace=True)
        split = None
        if sketch is not None and lo > 0 and not skipped and p == width:
            ref = max(op_scale, float(C1.abs().max()), tiny)
            drop = _rank_drop(eps, j + p, ref)
            split = _lazy_block(W, Vbuf[:lo], sketch, drop, ref, tol / 16)
        skipped = split is not None
        if skipped:
            C = C1.new_zeros(j + p, p)
            C[lo:] = C1
        else:
            W, C = _project(W, Vbuf[: j + p], passes=1, inplace=True)
            C[lo:] += C1
        # T = V^H A V grows by the coefficients C = [V_old, Q]^H A Q
        Tn = torch.zeros(j + p, j + p, dtype=dtype, device=device)
        Tn[:j, :j] = T
        Tn[:, j:] = C
        Tn[j:, :j] = C[:j].mH
        T = (Tn + Tn.mH) / 2
        lo = j
        j += p
        scale = max(op_scale, float(C.abs().max()), tiny)
        drop = _rank_drop(eps, j, scale)
        if split is None:
            Qn, B = _next_block(W, Vbuf[:j], drop, scale, _FILL_SEED + steps, width)
        else:
            Qn, B = split
        exact = Qn.shape[0] == 0  # the whole space is spanned
        done = exact or steps >= max_iter
        restart = j + Qn.shape[0] > cap
        switch = restart and degree > 1 and not filtered
        # Rayleigh-Ritz (O(j^3)) only at restarts and every CHECK_EVERY steps
        if not (done or restart or switch or steps % CHECK_EVERY == 0 or steps == 1):
            Q = Qn
            continue
        theta, U = torch.linalg.eigh(T)
        op_scale = max(op_scale, float(theta.abs().max()))
        scale = max(op_scale, tiny)
        if not filtered:
            norm_est = op_scale
        # residuals of the Ritz pairs: A V u - θ V u = Qn B (last p rows of u)
        est = torch.linalg.vector_norm(B @ U[j - p :, :m], dim=0)
        # After a breakdown the basis is an invariant subspace and its Ritz pairs are exact,
        # but not necessarily the smallest: test only once the fresh directions were expanded.
        fresh = bool((B.abs().amax(1) == 0).any()) if B.numel() else False
        small = bool((est[:k] <= confirm * tol * scale).all())
        if small and not (done or filtered) and steps < hold:
            # converged, waiting for the copies the widened block brings in: confirm (an
            # explicit product with m columns) only if the Ritz values, which the confirmation
            # would reproduce, show ``width`` copies of one eigenvalue (widen again)
            small = copies(theta[:m]) >= width
        if done or (not fresh and (filtered or small)):
            X = (U[:, :m].mT @ Vbuf[:j]).mT
            if sketch is not None:  # the basis is orthonormal to about tol / 16 only
                X = torch.linalg.qr(X)[0]
            AX = apply(X)
            H = X.mH @ AX
            w, Cx = torch.linalg.eigh((H + H.mH) / 2)
            X, AX = X @ Cx, AX @ Cx
            norm_est = max(norm_est, float(w.abs().max()))
            res = torch.linalg.vector_norm(AX - X * w.to(dtype), dim=0)
            converged = bool((res[:k] <= tol * max(norm_est, tiny)).all())
            seen = copies(w)
            if converged and width < m and seen >= width and not done:
                # ``width`` copies of one eigenvalue: its multiplicity may be larger than the
                # block sees (a block Krylov space holds at most ``width`` directions of an
                # eigenspace); widen the block with random directions and go on. The copies
                # those directions bring in need about as many steps to show as the first
                # convergence took, so convergence is not accepted before then.
                width = min(m, max(2 * width, seen + width))
                Qn, B = _complete(Qn, B, Vbuf[:j], width, _FILL_SEED - steps)
                hold = 2 * steps
                restart = j + Qn.shape[0] > cap
            elif done or (converged and steps >= hold):
                return LobpcgResult(w, X, res, steps, norm_est)
            elif not (converged or filtered):
                confirm /= 10
        if switch:
            # switch to the filtered operator, restarting from the m smallest Ritz vectors
            d = degree + 1 - degree % 2
            c = float(theta[min(2 * m, j - 1)])
            top = float(torch.linalg.vector_norm(B @ U[j - p :, -1]))
            hi = float(theta[-1]) + top
            if hi > c:
                op, filtered, op_scale = _chebyshev_filter(apply, c, hi, d), True, 0.0
                Qn = U[:, :m].mT @ Vbuf[:j]
                if width < m:
                    mix = random_block(m, width, dtype, device, steps)
                    Qn = torch.linalg.qr((mix.mT @ Qn).mT)[0].mT
                T = torch.zeros(0, 0, dtype=dtype, device=device)
                j = lo = 0
                Q = Qn
                continue
        if restart:  # thick (Krylov-Schur) restart
            Ul = U[:, :keep]
            Vbuf[:keep] = Ul.mT @ Vbuf[:j]
            T = torch.diag(theta[:keep]).to(dtype)
            j = keep
            lo = 0
            if sketch is not None:
                sketch.reset()
        Q = Qn
