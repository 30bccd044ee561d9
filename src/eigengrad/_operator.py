"""Hermitian linear operators: dense tensors, torch sparse tensors and matrix-free callables.

:class:`LinearOperator` is the public matrix-free type. :func:`as_problem` turns any accepted input
into a :class:`Problem`: a no-grad product for the iterative solvers, and a *differentiable*
product ``Z = sym(A) V`` through which implicit derivatives reach the input (a dense gradient for
dense input, the stored entries for sparse input, the parameters of a matrix-free operator).
"""

from __future__ import annotations

import functools
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._chebyshev import gershgorin_bounds
from ._rules import _partial as rp
from ._validation import (
    HERMITIAN_PART,
    SUPPORTED_DTYPES,
    check_finite_hermitian,
    default_hermitian_rtol,
)
from .exceptions import (
    InputDTypeError,
    InputShapeError,
    NonFiniteInputError,
    NotHermitianError,
    NotSquareError,
)

Matmat = Callable[[torch.Tensor], torch.Tensor]

# Stored entries handled at once in the sparse gradient: bounds its workspace (entries x k).
_CHUNK = 1 << 22


class LinearOperator:
    """A Hermitian linear operator ``V -> A V`` given by a callable (matrix-free).

    Parameters
    ----------
    shape : tuple of int
        ``(n, n)``.
    matmat : callable
        ``matmat(V)`` returns ``A @ V`` for ``V`` of shape ``(n, p)``. It may close over tensors
        that require grad (module parameters): derivatives of :func:`eigengrad.eigsh` reach them
        through ``torch.autograd`` on ``matmat`` itself. ``A`` must be Hermitian for every value
        of those parameters; this is not checked (it would cost ``n`` products).
    dtype : torch.dtype
        float32, float64, complex64 or complex128.
    device : torch.device or str, optional
        Device of the vectors ``matmat`` accepts (default CPU).

    Raises
    ------
    InputShapeError, InputDTypeError
        For a shape that is not ``(n, n)`` or an unsupported dtype.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> d = torch.arange(1.0, 6.0, dtype=torch.float64)
    >>> op = eg.LinearOperator((5, 5), lambda V: d[:, None] * V, dtype=torch.float64)
    >>> (op @ torch.ones(5, 1, dtype=torch.float64)).flatten()
    tensor([1., 2., 3., 4., 5.], dtype=torch.float64)
    """

    def __init__(
        self,
        shape: tuple[int, int],
        matmat: Matmat,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        fn = "eigengrad.LinearOperator"
        try:
            square = len(shape) == 2 and shape[0] == shape[1] and operator.index(shape[0]) >= 0
        except TypeError:
            square = False
        if not square:
            raise InputShapeError(
                f"{fn}: expected a square shape (n, n) of integers n >= 0, received {shape!r}. "
                f"Partial eigensolvers need a square Hermitian operator."
            )
        if dtype not in SUPPORTED_DTYPES:
            raise InputDTypeError(
                f"{fn}: expected dtype float32, float64, complex64 or complex128, received {dtype}."
            )
        if not callable(matmat):
            raise InputDTypeError(
                f"{fn}: expected a callable matmat(V) -> A @ V, received {type(matmat).__name__}."
            )
        self.shape = (int(shape[0]), int(shape[1]))
        self.matmat = matmat
        self.dtype = dtype
        self.device = torch.device("cpu") if device is None else torch.device(device)

    def __matmul__(self, V: torch.Tensor) -> torch.Tensor:
        return self.matmat(V)

    def __repr__(self) -> str:
        return f"LinearOperator(shape={self.shape}, dtype={self.dtype}, device={self.device})"


def product_indices(index: torch.Tensor, bound: int) -> torch.Tensor:
    """CSR index array in the narrowest type the sparse-dense product takes without a copy.

    With 64-bit indices, torch's CPU product (MKL) converts both index arrays to 32 bits on every
    call: about a third of the time of a one-column product at ``nnz = 1.3e6``. Indices below
    ``2^31`` are therefore stored in 32 bits once.
    """
    return index.to(torch.int32) if bound < 2**31 else index


def row_pointers(rows: torch.Tensor, n: int) -> torch.Tensor:
    """CSR row pointers ``(n + 1,)`` of entries whose row indices ``rows`` are sorted."""
    crow = torch.zeros(n + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    return crow


@dataclass
class _Sparse:
    """CSR structure of a sparse Hermitian matrix and of its conjugate transpose."""

    n: int
    crow: torch.Tensor
    col: torch.Tensor
    rows: torch.Tensor  # row index of each stored entry, CSR order
    crow_t: torch.Tensor
    col_t: torch.Tensor
    perm_t: torch.Tensor  # values of A^T in CSR order are values[perm_t]

    def __post_init__(self) -> None:
        bound = max(self.n, self.col.numel())
        self._index = [product_indices(i, bound) for i in (self.crow, self.col)]
        self._index_t = [product_indices(i, bound) for i in (self.crow_t, self.col_t)]

    @functools.cached_property
    def symmetric_pattern(self) -> bool:
        """Whether ``(i, j)`` is stored exactly when ``(j, i)`` is (then ``A^T`` has this CSR)."""
        return torch.equal(self.crow, self.crow_t) and torch.equal(self.col, self.col_t)

    @functools.cached_property
    def mirror(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(upper, lower, partner)`` entry positions for a symmetric pattern, else ``None``.

        ``upper``: entries with ``i <= j``; ``lower``: the others; ``partner``: the position of
        ``(j, i)`` for every ``lower`` entry ``(i, j)`` (an ``upper`` one).
        """
        if not self.symmetric_pattern:
            return None
        below = self.rows > self.col
        lower = below.nonzero().squeeze(1)
        return (~below).nonzero().squeeze(1), lower, self.perm_t.index_select(0, lower)

    def csr(self, values: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        crow, col = self._index_t if transpose else self._index
        if transpose:
            values = values.index_select(0, self.perm_t).conj()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                crow, col, values, (self.n, self.n), check_invariants=False
            )


def _mm(M: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return M @ V


class _SparseHermitianMatmul(torch.autograd.Function):
    """``Z = (A V + A^H V) / 2`` for sparse ``A`` given by its stored values.

    VJP: ``gV = sym(A) gZ``; ``g_values = sym(gZ V^H)`` evaluated on the stored entries only
    (chunked, never ``n × n``). JVP: ``dZ = sym(dA) V + sym(A) dV``.
    """

    @staticmethod
    def forward(values: torch.Tensor, V: torch.Tensor, s: _Sparse) -> torch.Tensor:
        return (_mm(s.csr(values), V) + _mm(s.csr(values, transpose=True), V)) / 2

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        values, V, s = inputs
        ctx.s = s
        ctx.save_for_backward(values, V)
        ctx.save_for_forward(values, V)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, gZ: torch.Tensor | None) -> Any:
        values, V = ctx.saved_tensors
        s: _Sparse = ctx.s
        if gZ is None:
            return None, None, None
        g_values = g_V = None
        if ctx.needs_input_grad[0]:
            # with a symmetric pattern gA[j, i] = conj(gA[i, j]): evaluate the upper entries only
            mirror = s.mirror
            rows, cols = (
                (s.rows, s.col)
                if mirror is None
                else (s.rows.index_select(0, mirror[0]), s.col.index_select(0, mirror[0]))
            )
            parts = []
            step = max(1, _CHUNK // max(1, V.shape[-1]))
            for start in range(0, rows.shape[0], step):
                rs, cs = rows[start : start + step], cols[start : start + step]
                parts.append(rp.stored_entries_gradient(V, gZ, rs, cs))
            g_values = torch.cat(parts) if parts else values.new_zeros(0)
            if mirror is not None:
                upper, lower, partner = mirror
                g = g_values.new_empty(values.shape[0])
                g.index_copy_(0, upper, g_values)
                g.index_copy_(0, lower, g.index_select(0, partner).conj())
                g_values = g
            if not values.is_complex():
                g_values = g_values.real if g_values.is_complex() else g_values
        if ctx.needs_input_grad[1]:
            g_V = _SparseHermitianMatmul.apply(values, gZ, s)
        return g_values, g_V, None

    @staticmethod
    def jvp(ctx: Any, d_values: torch.Tensor | None, dV: torch.Tensor | None, _: Any) -> Any:
        values, V = ctx.saved_tensors
        s: _Sparse = ctx.s
        out = None
        if d_values is not None:
            out = _SparseHermitianMatmul.forward(d_values, V, s)
        if dV is not None:
            term = _SparseHermitianMatmul.forward(values, dV, s)
            out = term if out is None else out + term
        return out


class _SparseHermitianLink(_SparseHermitianMatmul):
    """``sym(A) V``'s derivatives with a zero placeholder for its value (never read).

    The implicit rule (:func:`eigengrad._implicit.attach`) needs only the graph of
    ``Z = sym(A) X``: its backward and JVP use the saved ``values`` and ``V``, not ``Z``. This
    saves the two sparse products of the forward (75 ms of a 3 s solve at 10^5 nodes, k = 8).
    """

    @staticmethod
    def forward(values: torch.Tensor, V: torch.Tensor, s: _Sparse) -> torch.Tensor:
        dtype = torch.promote_types(values.dtype, V.dtype)
        return torch.zeros(V.shape, dtype=dtype, device=V.device)


@dataclass
class Problem:
    """A Hermitian input prepared for a partial eigensolver.

    Attributes
    ----------
    n, dtype, device, kind
        Order, dtype, device, and one of ``"dense"``, ``"sparse"``, ``"operator"``.
    apply : callable
        ``V -> A V`` without autograd (used by the iterative solvers).
    matmat : callable
        Differentiable ``V -> sym(A) V`` (the only path by which derivatives reach ``A``).
    dense : callable
        ``() -> A`` as a dense tensor, without autograd (small problems only).
    differentiable : bool or None
        Whether ``A`` carries autograd or forward-AD state (``None``: unknown, an operator).
    bounds : callable or None
        ``() -> (lo, hi)`` Gershgorin bounds of the spectrum (``None`` for operators).
    matrix : Tensor or None
        The sparse CSR matrix without autograd (``None`` unless ``kind == "sparse"``), for
        preconditioners that need its entries.
    diagonal : callable or None
        ``() -> diag(A)`` without autograd (``None`` unless ``kind == "sparse"``).
    link : callable or None
        ``matmat``'s derivatives without its value, for the implicit rule's graph (``None``:
        use ``matmat``; sparse input skips the products).
    """

    n: int
    dtype: torch.dtype
    device: torch.device
    kind: str
    apply: Matmat
    matmat: Matmat
    dense: Callable[[], torch.Tensor]
    differentiable: bool | None
    bounds: Callable[[], tuple[float, float]] | None = None
    matrix: torch.Tensor | None = None
    diagonal: Callable[[], torch.Tensor] | None = None
    link: Matmat | None = None

    def graph_matmat(self, X: torch.Tensor) -> torch.Tensor:
        """Return ``A X`` for the implicit rule, which reads only its graph (``link`` if set)."""
        return (self.link or self.matmat)(X)


def _has_tangent(t: torch.Tensor) -> bool:
    import torch.autograd.forward_ad as fwAD

    try:
        return fwAD.unpack_dual(t).tangent is not None
    except RuntimeError:  # pragma: no cover - no dual level active
        return False


def _primal(t: torch.Tensor) -> torch.Tensor:
    import torch.autograd.forward_ad as fwAD

    return fwAD.unpack_dual(t).primal.detach()


def _check_dense_or_sparse(A: torch.Tensor, fn: str) -> None:
    if A.dtype not in SUPPORTED_DTYPES:
        raise InputDTypeError(
            f"{fn}: expected dtype float32, float64, complex64 or complex128, received {A.dtype}. "
            f"Cast the input, e.g. A.to(torch.float64)."
        )
    if A.ndim != 2:
        raise InputShapeError(
            f"{fn}: expected one matrix of shape (n, n), received shape {tuple(A.shape)}. "
            f"Batches are not supported by the partial solvers: loop over the batch."
        )
    if A.shape[0] != A.shape[1]:
        raise NotSquareError(f"{fn}: expected a square matrix, received shape {tuple(A.shape)}.")
    if A.layout in (torch.sparse_coo, torch.sparse_csr) and A.dense_dim() != 0:
        raise InputShapeError(
            f"{fn}: expected a sparse matrix with scalar entries, received a hybrid sparse "
            f"tensor with {A.dense_dim()} dense dimension(s). Convert it with "
            f"A.to_dense().to_sparse() or A.to_dense().to_sparse_csr()."
        )


def _sparse_structure(A: torch.Tensor) -> tuple[_Sparse, torch.Tensor]:
    """CSR structure and differentiable values of a sparse COO or CSR tensor."""
    n = A.shape[0]
    if A.layout == torch.sparse_coo:
        A = A.coalesce()
        idx = A.indices()
        rows, col = idx[0], idx[1]
        values = A.values()
        crow = row_pointers(rows, n)
    else:
        crow = A.crow_indices().to(torch.int64)
        col = A.col_indices().to(torch.int64)
        values = A.values()
        rows = torch.repeat_interleave(torch.arange(n, device=A.device), crow.diff())
    # transposed structure: entries sorted by (col, row). They are in row order, so a stable
    # sort by column suffices (on 32-bit keys: 2.4x faster than an argsort of col * n + row)
    perm_t = torch.sort(product_indices(col, n), stable=True)[1]
    s = _Sparse(n, crow, col, rows, row_pointers(col, n), rows.index_select(0, perm_t), perm_t)
    return s, values


def _check_sparse_hermitian(
    s: _Sparse, values: torch.Tensor, fn: str, unchecked: str | None
) -> None:
    v = _primal(values)
    if v.numel() == 0:
        return
    magnitude = float(v.abs().max())
    if magnitude != magnitude or magnitude == float("inf"):
        raise NonFiniteInputError(
            f"{fn}: expected finite stored entries; received NaN or infinite values. Check the "
            f"computation that produced A; eigengrad never returns NaN silently."
        )
    if s.symmetric_pattern:  # A^H has the values of A permuted
        asym = float((v - v.index_select(0, s.perm_t).conj()).abs().max())
    else:  # A - A^H on the union pattern, via one sparse subtraction
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            D = (s.csr(v).to_sparse_coo() - s.csr(v, transpose=True).to_sparse_coo()).coalesce()
        asym = float(D.values().abs().max()) if D.values().numel() else 0.0
    rtol = default_hermitian_rtol(v.dtype)
    if asym > rtol * magnitude:
        kind = "Hermitian" if v.is_complex() else "symmetric"
        raise NotHermitianError(
            f"{fn}: expected a {kind} sparse matrix; received one with relative asymmetry "
            f"max|A - A^H| / max|A| = {asym / magnitude:.3g} > {rtol:.3g}. Store both triangles "
            f"(e.g. A + A.t()) or symmetrize: (A + A.t().conj()) / 2"
            + ("." if unchecked is None else f", or pass check_hermitian=False to {unchecked}.")
        )


def _hermitian_part(s: _Sparse, v: torch.Tensor) -> tuple[_Sparse, torch.Tensor]:
    """CSR structure and values of ``(A + A^H) / 2`` (no autograd).

    A symmetric pattern keeps its structure (``A^H`` has the values of ``A`` permuted); otherwise
    the entries of ``A / 2`` and ``A^H / 2`` are merged on the union pattern.
    """
    if s.symmetric_pattern:
        return s, (v + v.index_select(0, s.perm_t).conj()) / 2
    index = torch.stack([torch.cat([s.rows, s.col]), torch.cat([s.col, s.rows])])
    H = torch.sparse_coo_tensor(
        index, torch.cat([v, v.conj()]) / 2, (s.n, s.n), check_invariants=False
    )
    return _sparse_structure(H)


def _checked_product(op: LinearOperator, V: torch.Tensor, out: Any, fn: str) -> torch.Tensor:
    """``out = op.matmat(V)`` if it is a tensor of ``V``'s shape, dtype and device.

    It must also be finite when ``V`` is: one reduction per product, and the entry-wise tests
    run only when the sum is not finite.
    """
    if not isinstance(out, torch.Tensor) or out.dtype != V.dtype:
        got = f"dtype {out.dtype}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputDTypeError(
            f"{fn}: expected the LinearOperator's matmat to return a tensor of dtype {V.dtype} "
            f"(A @ V for V of shape {tuple(V.shape)}), received {got}. Check the callable and "
            f"the operator's dtype ({op.dtype})."
        )
    if out.shape != V.shape:
        raise InputShapeError(
            f"{fn}: expected the LinearOperator's matmat to return shape {tuple(V.shape)} (A @ V "
            f"for V of that shape), received shape {tuple(out.shape)}. Check the callable."
        )
    if out.device != V.device:
        raise InputDTypeError(
            f"{fn}: expected the LinearOperator's matmat to return a tensor on {V.device} (the "
            f"operator's device), received one on {out.device}. Pass device= to the operator."
        )
    if (
        out.numel()
        and not bool(torch.isfinite(out.detach().sum()))
        and not bool(torch.isfinite(out.detach()).all())
        and bool(torch.isfinite(V.detach()).all())
    ):
        raise NonFiniteInputError(
            f"{fn}: the LinearOperator's matmat returned NaN or infinite entries for a finite "
            f"block V of shape {tuple(V.shape)}. Check the callable and its parameters; "
            f"eigengrad never returns NaN silently."
        )
    return out


def as_problem(
    A: Any, fn: str, *, check_hermitian: bool = True, unchecked: str | None = HERMITIAN_PART
) -> Problem:
    """Prepare a dense tensor, sparse COO/CSR tensor or :class:`LinearOperator` for a solver.

    Raises typed input errors for anything else, for non-square or non-Hermitian matrices and for
    non-finite entries; ``unchecked`` is what the error says ``check_hermitian=False`` does
    (``None``: ``fn`` has no such option).
    """
    if isinstance(A, LinearOperator):
        op = A

        def matmat_op(V: torch.Tensor) -> torch.Tensor:
            return _checked_product(op, V, op.matmat(V), fn)

        def apply_op(V: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return matmat_op(V).detach()

        def dense_op() -> torch.Tensor:
            eye = torch.eye(op.shape[0], dtype=op.dtype, device=op.device)
            M = apply_op(eye)
            return (M + M.mH) / 2

        return Problem(
            op.shape[0], op.dtype, op.device, "operator", apply_op, matmat_op, dense_op, None
        )
    if not isinstance(A, torch.Tensor):
        raise InputDTypeError(
            f"{fn}: expected a torch.Tensor (dense, sparse COO or CSR) or an "
            f"eigengrad.LinearOperator, received {type(A).__name__}. Wrap a callable with "
            f"eg.LinearOperator((n, n), matmat, dtype=...)."
        )
    _check_dense_or_sparse(A, fn)
    n = A.shape[0]
    differentiable = A.requires_grad or _has_tangent(A)
    if A.layout == torch.strided:
        P = _primal(A)
        rtol = default_hermitian_rtol(A.dtype) if check_hermitian else None
        check_finite_hermitian(P, fn, rtol, unchecked)
        Ps = (P + P.mH) / 2

        def matmat_dense(V: torch.Tensor) -> torch.Tensor:
            return ((A + A.mH) / 2) @ V

        @functools.cache
        def bounds_dense() -> tuple[float, float]:
            d = Ps.diagonal()
            return gershgorin_bounds(d, Ps.abs().sum(-1) - d.abs())

        return Problem(
            n,
            A.dtype,
            A.device,
            "dense",
            lambda V: Ps @ V,
            matmat_dense,
            lambda: Ps,
            differentiable,
            bounds_dense,
        )
    if A.layout in (torch.sparse_coo, torch.sparse_csr):
        s, values = _sparse_structure(A)
        if check_hermitian:
            _check_sparse_hermitian(s, values, fn, unchecked)
            s_h, v_h = s, _primal(values)  # Hermitian within rounding: A stands for sym(A)
        else:
            v = _primal(values)
            if v.numel() and not bool(torch.isfinite(v).all()):
                raise NonFiniteInputError(f"{fn}: expected finite stored entries of A.")
            # unchecked: every path (solver, preconditioners, bounds) sees sym(A), like the
            # derivative and the dense path
            s_h, v_h = _hermitian_part(s, v)
        Ap = s_h.csr(v_h)

        def matmat_sparse(V: torch.Tensor) -> torch.Tensor:
            return _SparseHermitianMatmul.apply(values, V, s)

        def dense_sparse() -> torch.Tensor:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                M = Ap.to_dense()
            return (M + M.mH) / 2

        on = s_h.rows == s_h.col

        @functools.cache
        def diagonal_sparse() -> torch.Tensor:
            # off-diagonal entries add exact zeros: no compaction of the entries
            return torch.zeros(n, dtype=v_h.dtype, device=v_h.device).index_add(
                0, s_h.rows, v_h.masked_fill(~on, 0)
            )

        @functools.cache  # the solver choice asks more than once
        def bounds_sparse() -> tuple[float, float]:
            off = torch.zeros(n, dtype=v_h.abs().dtype, device=v_h.device).index_add(
                0, s_h.rows, v_h.abs().masked_fill_(on, 0)
            )
            return gershgorin_bounds(diagonal_sparse(), off)

        return Problem(
            n,
            A.dtype,
            A.device,
            "sparse",
            lambda V: _mm(Ap, V),
            matmat_sparse,
            dense_sparse,
            differentiable,
            bounds_sparse,
            Ap,
            diagonal_sparse,
            lambda V: _SparseHermitianLink.apply(values, V, s),
        )
    raise InputDTypeError(
        f"{fn}: expected a strided, sparse COO or sparse CSR tensor, received layout {A.layout}. "
        f"Convert it with A.to_sparse_csr() or A.to_dense()."
    )


def aslinearoperator(A: torch.Tensor | LinearOperator) -> LinearOperator:
    """Wrap a dense or sparse (COO/CSR) Hermitian tensor as a :class:`LinearOperator`.

    The operator's ``matmat`` is the differentiable product ``sym(A) V``: derivatives reach a
    dense ``A`` densely and a sparse ``A`` on its stored entries only.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> op = eg.aslinearoperator(torch.eye(3, dtype=torch.float64).to_sparse())
    >>> op.shape
    (3, 3)
    """
    if isinstance(A, LinearOperator):
        return A
    p = as_problem(A, "eigengrad.aslinearoperator", unchecked=None)
    return LinearOperator((p.n, p.n), p.matmat, dtype=p.dtype, device=p.device)
