"""Extreme eigenvalues, Ky Fan sums, spectral gaps and Rayleigh quotients.

These are spectral functions of the sorted eigenvalues, so they are thin wrappers of
:func:`eigengrad.eigvalsh`, whose rule already implements what MATH.md section 3.3 asks for at a
repeated eigenvalue: in reverse mode the eigenvalue cotangent is replaced by its mean on each
cluster (the minimum-norm subgradient of the convex ``λ_max`` and Ky Fan sums, with one
:class:`SubgradientWarning` per backward call when the cotangent was not constant on a cluster);
in forward mode a cluster's derivative is the ascending ``eigvalsh(K_cc)``, the exact one-sided
directional derivative. The warnings name the function called here.
"""

from __future__ import annotations

import torch

from . import _eigh
from ._inspect import is_transformed
from ._validation import SUPPORTED_DTYPES, check_finite
from .exceptions import DomainError, InputDTypeError, InputError, InputShapeError


def _eigenvalues(
    A: torch.Tensor, fn: str, UPLO: str, rtol: float | None, atol: float, check_hermitian: bool
) -> torch.Tensor:
    opts = _eigh._options(A, UPLO, rtol, atol, "warn", check_hermitian, fn)
    return _eigh._Eigh.apply(A, opts)[0]


def _check_order(A: torch.Tensor, fn: str, k: int, low: int, high: int, what: str) -> None:
    n = A.shape[-1] if isinstance(A, torch.Tensor) and A.ndim >= 2 else 0
    if isinstance(k, bool) or not isinstance(k, int) or not low <= k <= n + high:
        top = "n" if high == 0 else f"n - {-high}"
        raise InputError(
            f"{fn}: expected an integer {what} with {low} <= k <= {top} (n = {n}); "
            f"received k={k!r}."
        )


def _nonempty(A: torch.Tensor, fn: str) -> None:
    if isinstance(A, torch.Tensor) and A.ndim >= 2 and A.shape[-1] == 0:
        raise InputShapeError(
            f"{fn}: expected matrices with n >= 1; received shape {tuple(A.shape)} (an empty "
            "matrix has no extreme eigenvalue)."
        )


def lambda_max(
    A: torch.Tensor,
    *,
    UPLO: str = "L",
    rtol: float | None = None,
    atol: float = 0.0,
    check_hermitian: bool = True,
) -> torch.Tensor:
    """Largest eigenvalue of Hermitian matrices, with the minimum-norm subgradient.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``, ``n >= 1``.
    UPLO, rtol, atol, check_hermitian
        As in :func:`eigengrad.eigh` (``rtol, atol``: cluster tolerance).

    Returns
    -------
    Tensor
        ``λ_max``, real, shape ``A.shape[:-2]``.

    Raises
    ------
    InputShapeError
        ``n = 0``.

    Warns
    -----
    SubgradientWarning
        In backward, when the largest eigenvalue is repeated.

    Notes
    -----
    Reverse mode: ``gA = V diag(g) V^H`` with ``g`` the weights of the selected sorted eigenvalues,
    replaced by their mean on every cluster of numerically equal eigenvalues: the minimum-norm
    element of the subdifferential (Overton 1992, Lewis 1996). At multiplicity ``m`` this gives
    ``P_c / m`` per selected member; a :class:`SubgradientWarning` says so once per backward
    call. Forward mode returns the exact one-sided directional derivative: on a cluster the
    sorted eigenvalues move like the sorted eigenvalues of ``K_cc = V_c^H dA V_c``.

    Examples
    --------
    >>> import warnings, torch, eigengrad as eg
    >>> A = torch.eye(3, dtype=torch.float64, requires_grad=True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", eg.SubgradientWarning)
    ...     eg.lambda_max(A).backward()
    >>> A.grad  # I / 3, not a basis-dependent e_n e_n^T
    tensor([[0.3333, 0.0000, 0.0000],
            [0.0000, 0.3333, 0.0000],
            [0.0000, 0.0000, 0.3333]], dtype=torch.float64)
    """
    _nonempty(A, "eigengrad.lambda_max")
    w = _eigenvalues(A, "eigengrad.lambda_max", UPLO, rtol, atol, check_hermitian)
    return w[..., -1]


def lambda_min(
    A: torch.Tensor,
    *,
    UPLO: str = "L",
    rtol: float | None = None,
    atol: float = 0.0,
    check_hermitian: bool = True,
) -> torch.Tensor:
    """Smallest eigenvalue of Hermitian matrices (concave; its supergradient as for λ_max).

    Parameters and behaviour as in :func:`lambda_max`; at multiplicity ``m`` the gradient is
    ``P_c / m``.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.lambda_min(torch.diag(torch.tensor([3.0, -1.0, 2.0])))
    tensor(-1.)
    """
    _nonempty(A, "eigengrad.lambda_min")
    w = _eigenvalues(A, "eigengrad.lambda_min", UPLO, rtol, atol, check_hermitian)
    return w[..., 0]


def sum_largest(
    A: torch.Tensor,
    k: int,
    *,
    UPLO: str = "L",
    rtol: float | None = None,
    atol: float = 0.0,
    check_hermitian: bool = True,
) -> torch.Tensor:
    """Ky Fan ``k``-norm-type sum of the ``k`` largest eigenvalues (convex in ``A``).

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``.
    k : int
        ``0 <= k <= n``.
    UPLO, rtol, atol, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``Σ_{i > n-k} w_i``, shape ``A.shape[:-2]``.

    Warns
    -----
    SubgradientWarning
        In backward, when the ``k``-th and ``(k+1)``-th largest eigenvalues are equal.

    Notes
    -----
    Reverse mode: ``gA = V diag(g) V^H`` with ``g`` the weights of the selected sorted eigenvalues,
    replaced by their mean on every cluster of numerically equal eigenvalues: the minimum-norm
    element of the subdifferential (Overton 1992, Lewis 1996). At multiplicity ``m`` this gives
    ``P_c / m`` per selected member; a :class:`SubgradientWarning` says so once per backward
    call. Forward mode returns the exact one-sided directional derivative: on a cluster the
    sorted eigenvalues move like the sorted eigenvalues of ``K_cc = V_c^H dA V_c``.
    Where a cluster of multiplicity ``m`` straddles the boundary with ``r`` of its members among
    the ``k`` largest, the gradient is ``P_above + (r / m) P_c``; a cluster entirely inside the
    selection is exact and does not warn.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.sum_largest(torch.diag(torch.tensor([3.0, -1.0, 2.0])), 2)
    tensor(5.)
    """
    _check_order(A, "eigengrad.sum_largest", k, 0, 0, "k")
    w = _eigenvalues(A, "eigengrad.sum_largest", UPLO, rtol, atol, check_hermitian)
    n = w.shape[-1]
    return w[..., n - k :].sum(dim=-1)


def sum_smallest(
    A: torch.Tensor,
    k: int,
    *,
    UPLO: str = "L",
    rtol: float | None = None,
    atol: float = 0.0,
    check_hermitian: bool = True,
) -> torch.Tensor:
    """Sum of the ``k`` smallest eigenvalues (concave); behaviour as in :func:`sum_largest`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.sum_smallest(torch.diag(torch.tensor([3.0, -1.0, 2.0])), 2)
    tensor(1.)
    """
    _check_order(A, "eigengrad.sum_smallest", k, 0, 0, "k")
    w = _eigenvalues(A, "eigengrad.sum_smallest", UPLO, rtol, atol, check_hermitian)
    return w[..., :k].sum(dim=-1)


def spectral_gap(
    A: torch.Tensor,
    k: int,
    *,
    UPLO: str = "L",
    rtol: float | None = None,
    atol: float = 0.0,
    check_hermitian: bool = True,
) -> torch.Tensor:
    """Gap ``w_k - w_{k-1}`` between the ``k`` smallest eigenvalues and the rest.

    For gap regularisation (keep a subspace of ``k`` eigenvectors well defined): ascending
    eigenvalues ``w_0 <= ... <= w_{n-1}``, ``1 <= k <= n - 1``. For the gap below the ``k``
    largest use ``spectral_gap(A, n - k)``.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``.
    k : int
        Number of eigenvalues below the gap.
    UPLO, rtol, atol, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``w_k - w_{k-1} >= 0``, shape ``A.shape[:-2]``.

    Notes
    -----
    Where both eigenvalues are simple the gradient is ``v_k v_k^H - v_{k-1} v_{k-1}^H``, exact.
    Where ``w_{k-1}`` or ``w_k`` is repeated the gap is a difference of Ky Fan sums and not
    differentiable: reverse mode returns the cluster-mean weights (a :class:`SubgradientWarning`
    says so), e.g. ``0`` inside a cluster that holds both; forward mode returns the exact
    one-sided directional derivative (the gap of the sorted ``eigvalsh(K_cc)``).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.spectral_gap(torch.diag(torch.tensor([0.0, 1.0, 4.0])), 2)
    tensor(3.)
    """
    n = A.shape[-1] if isinstance(A, torch.Tensor) and A.ndim >= 2 else 0
    _check_order(A, "eigengrad.spectral_gap", k, 1, -1, "k")
    w = _eigenvalues(A, "eigengrad.spectral_gap", UPLO, rtol, atol, check_hermitian)
    assert n == w.shape[-1]
    return w[..., k] - w[..., k - 1]


def rayleigh_quotient(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Rayleigh quotient ``x^H A x / x^H x``, or its block form ``tr((X^H X)^{-1} X^H A X)``.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)`` (only its Hermitian part enters).
    X : Tensor
        A vector ``(..., n)`` or a block of ``k`` columns ``(..., n, k)`` of full column rank
        (``X.ndim == A.ndim`` means a block).

    Returns
    -------
    Tensor
        Real tensor of the batch shape. For a block it depends only on the column span of
        ``X``; its maximum over ``k``-dimensional spans is :func:`sum_largest` ``(A, k)``.

    Raises
    ------
    DomainError
        ``x = 0`` or rank-deficient ``X`` (checked outside ``torch.func`` transforms).
    InputShapeError, InputDTypeError, NonFiniteInputError
        Incompatible shapes, unsupported dtypes, NaN or infinite entries (the last checked
        outside ``torch.func`` transforms).

    Notes
    -----
    Smooth wherever ``X`` has full rank, so plain autograd is exact. The gradient in ``A`` is
    ``X (X^H X)^{-1} X^H``, the orthogonal projector onto the span of ``X``; in ``X`` (for
    orthonormal ``X``) it is ``2 (A X - X R)`` with ``R = X^H A X``, zero exactly on invariant
    subspaces. At a maximising unit vector ``x`` the gradient in ``A`` is ``x x^H``, one element
    of the subdifferential of :func:`lambda_max`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> eg.rayleigh_quotient(A, torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))
    tensor(2.5000, dtype=torch.float64)
    >>> eg.rayleigh_quotient(A, torch.eye(3, dtype=torch.float64)[:, 1:])
    tensor(5., dtype=torch.float64)
    """
    fn = "eigengrad.rayleigh_quotient"
    if not isinstance(A, torch.Tensor) or not isinstance(X, torch.Tensor):
        raise InputError(f"{fn}: expected torch tensors A and X.")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise InputShapeError(f"{fn}: expected square A (..., n, n); received {tuple(A.shape)}.")
    n = A.shape[-1]
    block = X.ndim == A.ndim
    if (block and X.shape[-2] != n) or (not block and (X.ndim != A.ndim - 1 or X.shape[-1] != n)):
        raise InputShapeError(
            f"{fn}: expected X of shape (..., {n}) (a vector) or (..., {n}, k) (a block) for A "
            f"of shape {tuple(A.shape)}; received {tuple(X.shape)}."
        )
    dtype = torch.promote_types(A.dtype, X.dtype)  # integer or bool X: A's dtype
    if A.dtype not in SUPPORTED_DTYPES or dtype not in SUPPORTED_DTYPES:
        raise InputDTypeError(
            f"{fn}: expected A of dtype float32, float64, complex64 or complex128 and X of a "
            f"dtype that promotes with it to one of those, received {A.dtype} and {X.dtype}. "
            f"Cast them, e.g. A.to(torch.float64)."
        )
    Ah = (A + A.mH) / 2
    Xb = X if block else X.unsqueeze(-1)
    Ah, Xb = Ah.to(dtype), Xb.to(dtype)
    # The quotient depends only on the span: columns scaled to unit max-norm (a constant
    # scaling, exact in the gradient too) keep X^H X from overflowing or underflowing.
    what = "zero vector x" if not block else "X without full column rank"
    singular = (
        f"{fn}: the Rayleigh quotient is undefined for a {what} (X^H X is singular). Pass "
        "non-zero vectors / linearly independent columns (orthonormalise X with torch.linalg.qr "
        "first)."
    )
    if n == 0 and Xb.shape[-1]:
        raise DomainError(singular)
    if n:
        scale = Xb.detach().abs().amax(-2, keepdim=True)
        Xb = Xb / torch.where(scale > 0, scale, 1).to(dtype)
    gram = Xb.mH @ Xb
    if not is_transformed(A, X) and Xb.numel():
        check_finite(A.detach(), fn)
        check_finite(X.detach(), fn)
        info = torch.linalg.cholesky_ex(gram).info
        if bool((info != 0).any()):
            raise DomainError(singular)
    value = torch.linalg.solve(gram, Xb.mH @ Ah @ Xb).diagonal(dim1=-2, dim2=-1).sum(-1)
    return value.real
