"""Sparse, differentiable graph Laplacians."""

from __future__ import annotations

import torch

from ._validation import check_finite, check_integer
from .exceptions import InputDTypeError, InputError, InputShapeError

_FN = "eigengrad.graph_laplacian"


def graph_laplacian(
    edge_index: torch.Tensor,
    edge_weight: torch.Tensor | None = None,
    num_nodes: int | None = None,
    normalization: str | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    r"""Graph Laplacian as a sparse COO tensor, differentiable in the edge weights.

    Edges are taken as given (the convention of PyTorch Geometric): an undirected graph lists
    each edge in both directions, with equal weights, so that ``W`` and ``L`` are symmetric.
    Duplicate edges are summed.

    Parameters
    ----------
    edge_index : Tensor
        Integer ``(2, E)``: source and target node of each edge.
    edge_weight : Tensor, optional
        ``(E,)`` non-negative weights (default ones); may require grad.
    num_nodes : int, optional
        Number of nodes (default ``edge_index.max() + 1``).
    normalization : {None, "sym", "rw"}
        ``None``: ``L = D - W``; ``"sym"``: ``I - D^{-1/2} W D^{-1/2}``; ``"rw"``:
        ``I - D^{-1} W`` (not symmetric: its eigenvalues are those of ``"sym"``, so pass
        ``"sym"`` to :func:`eigengrad.eigsh`). Isolated nodes (degree 0) get ``L_ii = 0``
        with ``None`` and ``1`` with the normalised forms.
    dtype : torch.dtype
        Dtype of the default weights.

    Returns
    -------
    Tensor
        Coalesced sparse COO ``(num_nodes, num_nodes)``; its values are differentiable functions
        of ``edge_weight``.

    Raises
    ------
    InputShapeError, InputDTypeError, InputError, NonFiniteInputError
        For a malformed ``edge_index`` or ``num_nodes``, weights that are not a floating-point
        tensor of one per edge, negative, non-finite or non-real weights, or an unknown
        normalization.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> eg.graph_laplacian(edges, num_nodes=3).to_dense()
    tensor([[ 1., -1.,  0.],
            [-1.,  2., -1.],
            [ 0., -1.,  1.]], dtype=torch.float64)
    """
    if not isinstance(edge_index, torch.Tensor) or edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise InputShapeError(
            f"{_FN}: expected edge_index of shape (2, E), received "
            f"{getattr(edge_index, 'shape', type(edge_index).__name__)}."
        )
    if (
        edge_index.dtype.is_floating_point
        or edge_index.dtype.is_complex
        or (edge_index.dtype == torch.bool)
    ):
        raise InputDTypeError(
            f"{_FN}: expected an integer edge_index, received {edge_index.dtype}."
        )
    edge_index = edge_index.to(torch.int64)
    E = edge_index.shape[1]
    if num_nodes is None:
        num_nodes = int(edge_index.max()) + 1 if E else 0
    num_nodes = check_integer(num_nodes, "num_nodes", _FN, 0)
    if E and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise InputError(
            f"{_FN}: edge_index entries must lie in [0, num_nodes) = [0, {num_nodes}); received "
            f"range [{int(edge_index.min())}, {int(edge_index.max())}]."
        )
    if edge_weight is None:
        if not (dtype.is_floating_point or dtype.is_complex):
            raise InputDTypeError(
                f"{_FN}: expected a floating-point or complex dtype for the default weights, "
                f"received dtype={dtype}."
            )
        edge_weight = torch.ones(E, dtype=dtype, device=edge_index.device)
    if not isinstance(edge_weight, torch.Tensor):
        raise InputDTypeError(
            f"{_FN}: expected edge_weight as a torch.Tensor, received "
            f"{type(edge_weight).__name__}. Convert it with torch.as_tensor(w, dtype=...)."
        )
    if not (edge_weight.dtype.is_floating_point or edge_weight.dtype.is_complex):
        raise InputDTypeError(
            f"{_FN}: expected floating-point edge weights, received {edge_weight.dtype}. "
            f"Cast them, e.g. edge_weight.to(torch.float64)."
        )
    if edge_weight.shape != (E,):
        raise InputShapeError(
            f"{_FN}: expected edge_weight of shape ({E},) (one per edge), received "
            f"{tuple(edge_weight.shape)}."
        )
    check_finite(edge_weight.detach(), _FN)
    real = edge_weight.detach()
    if real.is_complex():  # a complex dtype holds real weights (the Laplacian stays Hermitian)
        if bool((real.imag != 0).any()):
            raise InputError(
                f"{_FN}: expected real edge weights (a complex dtype is fine, but the imaginary "
                f"parts must be zero), received weights with nonzero imaginary parts. For a "
                f"magnetic or signed Laplacian, build the matrix directly as a sparse tensor."
            )
        real = real.real
    if E and bool((real < 0).any()):
        worst = int(real.argmin())
        raise InputError(
            f"{_FN}: expected non-negative edge weights, received "
            f"{float(real[worst]):.6g} at edge {worst} "
            f"({int(edge_index[0, worst])}, {int(edge_index[1, worst])}). A Laplacian with "
            f"negative weights is not positive semidefinite and its normalizations divide by "
            f"degrees that may vanish; build such a matrix directly as a sparse tensor."
        )
    if normalization not in (None, "sym", "rw"):
        raise InputError(
            f"{_FN}: expected normalization None, 'sym' or 'rw', received {normalization!r}."
        )
    row, col = edge_index[0], edge_index[1]
    n = num_nodes
    deg = torch.zeros(n, dtype=edge_weight.dtype, device=edge_weight.device).index_add(
        0, row, edge_weight
    )
    diag = torch.arange(n, device=edge_index.device)
    if normalization is None:
        off, dvals = -edge_weight, deg
    else:
        positive = deg > 0
        safe = torch.where(positive, deg, torch.ones_like(deg))
        if normalization == "sym":
            s = torch.where(positive, safe.rsqrt(), torch.zeros_like(deg))
            off = -s[row] * edge_weight * s[col]
        else:
            s = torch.where(positive, 1 / safe, torch.zeros_like(deg))
            off = -s[row] * edge_weight
        dvals = torch.ones_like(deg)
    indices = torch.cat([edge_index, torch.stack([diag, diag])], 1)
    values = torch.cat([off, dvals])
    return torch.sparse_coo_tensor(indices, values, (n, n), check_invariants=False).coalesce()
