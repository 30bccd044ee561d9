"""Spectral radius ``max|λ|`` and spectral abscissa ``max Re λ`` with (sub)gradients.

Both are a maximum over eigenvalues: the cotangent sits on the maximisers (MATH.md section 6).
For a real matrix a complex-conjugate pair of maximisers is harmless (the pair moves as one,
the function is differentiable, and averaging over the pair is exact); any other tie is genuine:
the function is not differentiable there, and the averaged cotangent (the minimum-norm choice,
as in MATH.md section 3.3) is returned with a :class:`SubgradientWarning`. A (nearly) defective
maximiser has no derivative or subgradient at all (the maximum moves like ``ε^{1/m}``): its
derivatives warn or raise as ``defective=`` says, like every eig derivative at a Jordan block.
"""

from __future__ import annotations

import warnings

import torch

from ._eig import _Eig, _options
from ._inspect import inspect
from ._policy import batch_location
from .exceptions import InputShapeError, SubgradientWarning


def _dependent_maximisers(V: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Whether the maximisers' eigenvectors (``mask``) are dependent to working precision.

    That is, their ``m``-th singular value (unit columns) is below ``sqrt(eps)``, the
    ``1 / kappa_max`` of the eig policy: the maximum sits on a (nearly) defective eigenvalue.
    """
    unit = V / torch.linalg.vector_norm(V, dim=-2, keepdim=True)
    sigma = torch.linalg.svdvals(unit * mask.unsqueeze(-2).to(unit.dtype))  # descending
    m = mask.sum(-1, keepdim=True)
    smallest = sigma.gather(-1, (m - 1).clamp_min(0)).squeeze(-1)
    return (m.squeeze(-1) > 1) & ~(smallest >= torch.finfo(sigma.dtype).eps ** 0.5)


def _maximiser_weights(
    key: torch.Tensor,
    w: torch.Tensor,
    V: torch.Tensor,
    *,
    rtol: float,
    atol: float,
    real_input: bool,
    fn: str,
    quantity: str,
) -> tuple[torch.Tensor]:
    """Weights ``1/m`` on the ``m`` maximisers of ``key`` (within the tie tolerance), else 0.

    On a (nearly) defective maximiser the weight goes to one member of the group instead: a
    constant cotangent on a defective group is the derivative of its trace, which the eig
    policy accepts as smooth, but the maximum is not Lipschitz there (it moves like ``ε^{1/m}``)
    and has no derivative; an unequal cotangent makes the backward report the defect as
    ``defective=`` says (warn or raise), as the forward mode already does.
    """
    top = key.amax(-1, keepdim=True)
    tol = atol + rtol * w.abs().amax(-1, keepdim=True)
    mask = key >= top - tol
    # For a real matrix, eigenvalue and conjugate partner are one maximiser.
    distinct = mask & (w.imag >= 0) if real_input else mask
    ties = distinct.sum(-1)
    weights = mask.to(key.dtype) / mask.sum(-1, keepdim=True).to(key.dtype)
    if mask.numel() and bool((mask.sum(-1) > 1).any()):
        defective = _dependent_maximisers(V, mask)
        if bool(defective.any()):
            first = torch.zeros_like(mask).scatter_(
                -1, mask.to(torch.uint8).argmax(-1, keepdim=True), True
            )
            weights = torch.where(defective.unsqueeze(-1), first.to(key.dtype), weights)
            ties = ties.masked_fill(defective, 1)  # reported by the eig policy, not as a tie
    if ties.numel() and bool((ties > 1).any()):
        n = w.shape[-1]
        flat = int((ties > 1).reshape(-1).nonzero()[0, 0])
        values = w.reshape(-1, n)[flat][mask.reshape(-1, n)[flat]].tolist()
        shown = ", ".join(f"{complex(z):.5g}" for z in values[:6])
        warnings.warn(
            f"{fn}: the {quantity} {float(top.reshape(-1)[flat]):.6g} is attained by "
            f"{int(ties.reshape(-1)[flat])} distinct eigenvalues ({shown})"
            f"{batch_location(w.shape[:-1], flat)}"
            + (" that are not a complex-conjugate pair" if real_input else "")
            + f" (tie tolerance {float(tol.reshape(-1)[flat]):.3g}). The {quantity} is not "
            "differentiable at a tie; eigengrad returned the subgradient that averages the "
            "maximisers' gradients (the minimum-norm element for a repeated eigenvalue).",
            SubgradientWarning,
            stacklevel=4,
        )
    return (weights,)


def _extremum(
    A: torch.Tensor,
    rtol: float | None,
    atol: float,
    defective: str,
    defective_rtol: float | None,
    fn: str,
    quantity: str,
) -> torch.Tensor:
    opts = _options(A, rtol, atol, "warn", defective, defective_rtol, fn)
    if A.shape[-1] == 0:
        raise InputShapeError(
            f"{fn}: expected matrices with n >= 1; received shape {tuple(A.shape)}. The "
            f"{quantity} of an empty matrix (a maximum over no eigenvalues) is undefined."
        )
    w, V = _Eig.apply(A, opts)
    key = w.abs() if quantity == "spectral radius" else w.real
    (weights,) = inspect(
        _maximiser_weights,
        key.detach(),
        w.detach(),
        V.detach(),
        rtol=opts.rtol,
        atol=opts.atol,
        real_input=not A.is_complex(),
        fn=fn,
        quantity=quantity,
    )
    # the value is the maximum itself (a weighted mean of near-ties would depend on the tie
    # tolerance); its derivative is the averaged subgradient of the maximisers
    mean = (weights * key).sum(-1)
    return key.detach().amax(-1) + (mean - mean.detach())


def spectral_radius(
    A: torch.Tensor,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    defective: str = "warn",
    defective_rtol: float | None = None,
) -> torch.Tensor:
    r"""Spectral radius ``ρ(A) = max_i |λ_i|`` with its gradient.

    Parameters
    ----------
    A : Tensor
        Square matrices ``(..., n, n)``, ``n >= 1``; real or complex, float32 or float64.
    rtol, atol : float, optional
        Eigenvalues with ``|λ_i| >= ρ - (atol + rtol max|λ|)`` are maximisers (and the cluster
        tolerance of :func:`eigengrad.eig`). Default ``rtol = 16 sqrt(n) eps``.
    defective, defective_rtol
        As in :func:`eigengrad.eig`: a (nearly) defective maximiser warns or raises.

    Returns
    -------
    Tensor
        Real, shape ``(...)``.

    Raises
    ------
    InputShapeError
        For ``n = 0``, and the input errors of :func:`eigengrad.eig`.

    Warns
    -----
    SubgradientWarning
        At a genuine tie (distinct maximisers that are not a conjugate pair of a real matrix,
        or a repeated maximiser): the averaged subgradient is returned.

    Notes
    -----
    At a simple maximiser ``λ`` (or a conjugate pair of a real ``A``):
    ``dρ = Re(conj(λ) u^H dA v) / |λ|`` (``u^H v = 1``); VJP ``gA = V^{-H} diag(gw) V^H`` with
    ``gw = λ / |λ|`` on the maximiser (``Re`` for real ``A``). For a real ``A`` the pair
    ``λ, conj(λ)`` contributes complex-conjugate terms, so averaging over it is exact. At ties
    (maximisers within the tolerance) the cotangent is averaged over the maximisers; the value
    is the maximum itself. ``ρ`` is not differentiable where ``ρ = 0``.

    References
    ----------
    Overton & Womersley 1988; Burke, Lewis & Overton 2003 (variational analysis of spectral
    radius and abscissa).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.tensor([[0.0, -2.0], [2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    >>> rho = eg.spectral_radius(A)  # eigenvalues ±2i: a conjugate pair, differentiable
    >>> rho.backward()
    >>> round(rho.item(), 12), A.grad.abs().round(decimals=12).tolist()  # (A - A^T) / 8
    (2.0, [[0.0, 0.5], [0.5, 0.0]])
    """
    return _extremum(
        A, rtol, atol, defective, defective_rtol, "eigengrad.spectral_radius", "spectral radius"
    )


def spectral_abscissa(
    A: torch.Tensor,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    defective: str = "warn",
    defective_rtol: float | None = None,
) -> torch.Tensor:
    r"""Spectral abscissa ``α(A) = max_i Re λ_i`` with its gradient.

    ``α < 0`` iff the linear system ``x' = A x`` is asymptotically stable.

    Parameters
    ----------
    A : Tensor
        Square matrices ``(..., n, n)``, ``n >= 1``; real or complex, float32 or float64.
    rtol, atol : float, optional
        Eigenvalues with ``Re λ_i >= α - (atol + rtol max|λ|)`` are maximisers. Default
        ``rtol = 16 sqrt(n) eps``.
    defective, defective_rtol
        As in :func:`eigengrad.eig`.

    Returns
    -------
    Tensor
        Real, shape ``(...)``.

    Raises
    ------
    InputShapeError
        For ``n = 0``, and the input errors of :func:`eigengrad.eig`.

    Warns
    -----
    SubgradientWarning
        At a genuine tie (see :func:`spectral_radius`).

    Notes
    -----
    At a simple maximiser (or a conjugate pair of a real ``A``): ``dα = Re(u^H dA v)``
    (``u^H v = 1``); VJP ``gA = V^{-H} diag(gw) V^H`` with ``gw = 1`` on the maximiser
    (``Re`` for real ``A``); averaged over ties.

    References
    ----------
    Burke, Lewis & Overton 2003; Burke, Henrion, Lewis & Overton 2006 (stabilisation by
    gradient sampling).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.tensor([[-1.0, 3.0], [0.0, -2.0]], dtype=torch.float64, requires_grad=True)
    >>> alpha = eg.spectral_abscissa(A)
    >>> alpha.backward()
    >>> alpha.item(), A.grad.round(decimals=12).tolist()  # u v^T: u = (1, 3), v = (1, 0)
    (-1.0, [[1.0, 0.0], [3.0, 0.0]])
    """
    return _extremum(
        A,
        rtol,
        atol,
        defective,
        defective_rtol,
        "eigengrad.spectral_abscissa",
        "spectral abscissa",
    )
