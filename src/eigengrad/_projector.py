"""Spectral projectors onto selected eigenspaces (MATH.md section 5).

``P_S = V_S V_S^H`` is the matrix function of the indicator ``s`` of the selection ``S``, so its
derivative is Daleckii-Krein with ``D_ij = (s_i - s_j) / (w_i - w_j)``: only gaps between
selected and unselected eigenvalues appear. A selection must be a union of whole clusters; one
whose boundary splits a cluster of numerically equal eigenvalues has no projector and raises
:class:`SplitClusterError`.
"""

from __future__ import annotations

import torch

from ._matrix_function import apply_spectral
from ._policy import batch_location
from ._rules import _clusters as rc
from ._rules import _divided_differences as rd
from ._spectral_function import SpectralFunction
from ._validation import check_cluster_tolerances, machine_eps
from .exceptions import InputError, SplitClusterError

_NAME = "eigengrad.spectral_projector"


class Selection(SpectralFunction):
    """The indicator of a selection of eigenvalues; ``aux`` is the indicator itself."""

    name = _NAME
    piecewise_linear = True

    def __init__(
        self,
        k: int | None,
        largest: bool,
        indices: tuple[int, int] | None,
        interval: tuple[float, float] | None,
        rtol: float | None,
        atol: float,
    ) -> None:
        self.k = k
        self.largest = largest
        self.indices = indices
        self.interval = interval
        self.rtol = rtol
        self.atol = atol

    def _mask(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[-1]
        index = torch.arange(n, device=w.device)
        if self.interval is not None:
            low, high = self.interval
            return (w >= low) & (w <= high)
        if self.indices is not None:
            start, stop = self.indices
            return ((index >= start) & (index < stop)).expand(w.shape)
        assert self.k is not None
        chosen = index >= n - self.k if self.largest else index < self.k
        return chosen.expand(w.shape)

    def prepare(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        n = w.shape[-1]
        rtol = rc.default_rtol(n, machine_eps(w.dtype)) if self.rtol is None else self.rtol
        labels = rc.cluster_labels(w, rc.cluster_tolerance(w, rtol, self.atol))
        same = rc.same_cluster(labels)
        mask = self._mask(w)
        split = same & (mask.unsqueeze(-1) != mask.unsqueeze(-2))
        if w.numel() and bool(split.any()):
            self._report(w, same, split, mask, rtol)
        return (mask.to(w.dtype),)

    def _report(
        self,
        w: torch.Tensor,
        same: torch.Tensor,
        split: torch.Tensor,
        mask: torch.Tensor,
        rtol: float,
    ) -> None:
        n = w.shape[-1]
        flat = int(split.reshape(-1, n, n).any(dim=-1).reshape(-1).nonzero()[0])
        batch, i = divmod(flat, n)
        members = same.reshape(-1, n, n)[batch, i].nonzero().reshape(-1).tolist()
        first, last = members[0], members[-1]
        w_b = w.reshape(-1, n)[batch]
        value = float(w_b[first : last + 1].mean())
        chosen = int(mask.reshape(-1, n)[batch, first : last + 1].sum())
        spread = float(w_b[last] - w_b[first])
        if self.interval is not None:
            lo_v, hi_v = float(w_b[first]), float(w_b[last])
            fix = (
                f"move the interval boundary that cuts it below {lo_v:.17g} or above {hi_v:.17g}"
                " (by more than the tolerance)"
            )
        elif self.indices is not None:
            start, stop = self.indices
            if first < start <= last:
                fix = f"e.g. indices=({first}, {stop}) or indices=({last + 1}, {stop})"
            else:
                fix = f"e.g. indices=({start}, {first}) or indices=({start}, {last + 1})"
        elif self.largest:
            fix = f"e.g. k={n - last - 1} or k={n - first} with largest=True"
        else:
            fix = f"e.g. k={first} or k={last + 1}"
        raise SplitClusterError(
            f"{_NAME}: the selection splits the cluster of eigenvalue {value:.10g} (multiplicity "
            f"{last - first + 1}, ascending indices {first}..{last}, spread {spread:.3g} <= "
            f"tolerance atol + rtol max|w| with rtol={rtol:.3g})"
            f"{batch_location(w.shape[:-1], batch)}: "
            f"{chosen} of its {last - first + 1} eigenvectors were selected. Inside a cluster of "
            "(numerically) equal eigenvalues no individual eigenvector is defined, so neither is "
            f"this projector. Select whole clusters: {fix}."
        )

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return aux

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return rd.indicator_divided_differences(w, aux)

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _check_selection(
    n: int,
    k: int | None,
    largest: bool,
    indices: tuple[int, int] | None,
    interval: tuple[float, float] | None,
) -> None:
    given = sum(x is not None for x in (k, indices, interval))
    if given != 1:
        raise InputError(
            f"{_NAME}: expected exactly one selection, k=..., indices=(start, stop) or "
            f"interval=(low, high); received {given}."
        )
    if largest and k is None:
        raise InputError(
            f"{_NAME}: largest=True applies to k=... only; indices and interval select in "
            f"ascending order (the largest k of n: indices=(n - k, n))."
        )
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n):
        raise InputError(f"{_NAME}: expected an integer 0 <= k <= n = {n}; received k={k!r}.")
    if indices is not None:
        start, stop = indices
        if not (0 <= start <= stop <= n):
            raise InputError(
                f"{_NAME}: expected indices=(start, stop) with 0 <= start <= stop <= n = {n} "
                f"(ascending order, stop excluded); received {indices!r}."
            )
    if interval is not None:
        low, high = interval
        if not low <= high:
            raise InputError(
                f"{_NAME}: expected interval=(low, high) with low <= high; received {interval!r}."
            )


def spectral_projector(
    A: torch.Tensor,
    k: int | None = None,
    *,
    largest: bool = False,
    indices: tuple[int, int] | None = None,
    interval: tuple[float, float] | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    UPLO: str = "L",
    check_hermitian: bool = True,
) -> torch.Tensor:
    r"""Orthogonal projector onto the eigenspace of selected eigenvalues, ``V_S V_S^H``.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``.
    k : int, optional
        Select the ``k`` smallest eigenvalues (the ``k`` largest with ``largest=True``).
    largest : bool
        With ``k``: select the largest instead of the smallest.
    indices : (int, int), optional
        Select ascending positions ``start <= i < stop``.
    interval : (float, float), optional
        Select eigenvalues ``low <= w <= high`` (the rank may vary over a batch).
    rtol, atol : float, optional
        Cluster tolerance, as in :func:`eigengrad.eigh` (default ``rtol = 16 sqrt(n) eps``).
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        The Hermitian projector ``P``, ``P² = P``, same shape and dtype as ``A``.

    Raises
    ------
    SplitClusterError
        The selection boundary splits a cluster of numerically equal eigenvalues; the message
        reports the cluster (value, multiplicity, indices) and the nearest valid selections.
    InputError
        Not exactly one of ``k``, ``indices``, ``interval``, or one out of range.

    Notes
    -----
    ``P`` is the matrix function of the selection indicator ``s``; with
    ``D_ij = (s_i - s_j) / (w_i - w_j)`` (zero unless exactly one of ``i, j`` is selected):

    - JVP: ``dP = V (D ∘ V^H dA V) V^H``;
    - VJP: ``gA = V (D ∘ V^H G V) V^H``, ``G`` the Hermitian part of the cotangent.

    Only gaps between selected and unselected eigenvalues enter, so degenerate clusters inside
    (or outside) the selection are exact. Double backward uses second divided differences.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.diag(torch.tensor([1.0, 1.0, 3.0], dtype=torch.float64))
    >>> eg.spectral_projector(A, 2)
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 0.]], dtype=torch.float64)
    >>> eg.spectral_projector(A, 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eigengrad.exceptions.SplitClusterError: eigengrad.spectral_projector: the selection splits ...
    """
    n = A.shape[-1] if isinstance(A, torch.Tensor) and A.ndim >= 2 else 0
    _check_selection(n, k, largest, indices, interval)
    rtol, atol = check_cluster_tolerances(rtol, atol, _NAME)
    spec = Selection(k, largest, indices, interval, rtol, atol)
    return apply_spectral(A, spec, UPLO, check_hermitian)
