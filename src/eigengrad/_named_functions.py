"""Named matrix functions with closed-form, cancellation-free divided differences.

``sqrtm``, ``invsqrtm``, ``logm``, ``expm``, ``powm`` and ``clamp_eigenvalues`` are
:func:`eigengrad.matrix_function` with a :class:`SpectralFunction` whose first divided
differences are evaluated in closed form (MATH.md section 4): ``exp`` via ``expm1``, ``log`` via
``atanh``, ``sqrt`` via ``1 / (√a + √b)``, powers via ``expm1(p r) / expm1(r)``. Each documents
its domain and raises :class:`DomainError` outside it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from ._matrix_function import apply_spectral
from ._rules import _divided_differences as rd
from ._spectral_function import SpectralFunction, check_positive, check_values, locate
from ._validation import real_number
from .exceptions import DomainError, InputError


class ExpFunction(SpectralFunction):
    """``exp``: divided differences ``-e^max expm1(-|h|) / |h|``."""

    name = "eigengrad.expm"

    def prepare(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        check_values(
            torch.exp(w),
            w,
            f"{self.name}: exp overflows {torch.finfo(w.dtype).max:.3g}",
            "Shift the spectrum down (expm(A - s I) = e^-s expm(A)), work in a wider dtype, or "
            "clamp it first with eg.clamp_eigenvalues(A, max=...).",
        )
        return (w,)

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return torch.exp(w)

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return rd.exp_divided_differences(w)

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)

    def derivative(self) -> SpectralFunction:
        return self


class LogFunction(SpectralFunction):
    """``log`` on ``w > 0``: divided differences ``2 atanh(r) / (r (a + b))``."""

    name = "eigengrad.logm"

    def prepare(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        check_positive(w, self.name, strict=True, what="the matrix logarithm")
        return (w,)

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return torch.log(w)

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return rd.log_divided_differences(w)

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return -1 / (x * x)

    def derivative(self) -> SpectralFunction:
        return PowerFunction(-1.0, name=self.name)


class PowerFunction(SpectralFunction):
    """``c x^p``; closed-form divided differences (``p = ±1/2`` have their own)."""

    def __init__(self, p: float, coefficient: float = 1.0, *, name: str = "eigengrad.powm"):
        self.p = float(p)
        self.c = float(coefficient)
        self.name = name

    @property
    def integer(self) -> bool:
        return self.p.is_integer()

    def prepare(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        what = f"the matrix power x^{self.p:g}"
        if self.name == "eigengrad.sqrtm":
            what = "the matrix square root"
        elif self.name == "eigengrad.invsqrtm":
            what = "the inverse matrix square root"
        if not self.integer:
            check_positive(w, self.name, strict=self.p < 0, what=what)
        elif self.p < 0:
            bad = w == 0
            if bool(bad.any()):
                value, i, location, count = locate(w, bad)
                raise DomainError(
                    f"{self.name}: {what} needs an invertible matrix; received eigenvalue "
                    f"{value:.6g} (index {i}){location}; {count} zero eigenvalue(s). Shift the "
                    "spectrum (A + s I) or regularise, e.g. eg.clamp_eigenvalues(A, min=1e-6) "
                    "for a positive semidefinite A."
                )
        check_values(
            self.values(w, w),
            w,
            f"{self.name}: {what} overflows {torch.finfo(w.dtype).max:.3g}",
            "Scale the matrix first (powm(A / s) = s^-p powm(A)), work in a wider dtype, or "
            "clamp its spectrum with eg.clamp_eigenvalues(A, min=..., max=...).",
        )
        return (w,)

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        if self.p == 0.5:
            return self.c * torch.sqrt(w)
        if self.p == -0.5:
            return self.c * torch.rsqrt(w)
        return self.c * w**self.p

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        if self.p == 0.5:
            D = rd.sqrt_divided_differences(w)
        elif self.p == -0.5:
            D = rd.invsqrt_divided_differences(w)
        elif self.p == 0:
            D = torch.zeros(*w.shape, w.shape[-1], dtype=w.dtype, device=w.device)
        else:
            D = rd.power_divided_differences(w, self.p)
        return self.c * D

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p
        if p in (0.0, 1.0):
            return torch.zeros_like(x)
        return self.c * p * (p - 1) * x ** (p - 2)

    def derivative(self) -> SpectralFunction:
        return PowerFunction(self.p - 1, self.c * self.p, name=self.name)


class ClampFunction(SpectralFunction):
    """``clamp(x, low, high)``: exact quotients; ``f' = 1`` on ``[low, high]`` (kinks included)."""

    name = "eigengrad.clamp_eigenvalues"
    piecewise_linear = True

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return torch.clamp(w, min=self.low, max=self.high)

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return rd.clamp_divided_differences(w, self.low, self.high)

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def sqrtm(A: torch.Tensor, *, UPLO: str = "L", check_hermitian: bool = True) -> torch.Tensor:
    r"""Principal square root of Hermitian positive semidefinite matrices, ``V √Λ V^H``.

    Parameters
    ----------
    A : Tensor
        Hermitian positive semidefinite matrices ``(..., n, n)``.
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``A^(1/2)``, Hermitian positive semidefinite.

    Raises
    ------
    DomainError
        A negative eigenvalue (forward), or a zero eigenvalue in backward (unbounded derivative);
        the message names it and suggests a shift or ``eg.clamp_eigenvalues(A, min=0)``.

    Notes
    -----
    Daleckii-Krein with ``D_ij = 1 / (√w_i + √w_j)``: JVP ``V (D ∘ V^H dA V) V^H``, VJP
    ``V (D ∘ V^H G V) V^H`` (``G`` the Hermitian part of the cotangent). No cancellation and no gap
    in any denominator: exact at the identity and every repeated eigenvalue.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.eye(2, dtype=torch.float64, requires_grad=True)
    >>> eg.sqrtm(A).trace().backward()  # d tr sqrt(A) = tr(A^(-1/2) dA) / 2
    >>> A.grad
    tensor([[0.5000, 0.0000],
            [0.0000, 0.5000]], dtype=torch.float64)
    """
    return apply_spectral(A, PowerFunction(0.5, name="eigengrad.sqrtm"), UPLO, check_hermitian)


def invsqrtm(A: torch.Tensor, *, UPLO: str = "L", check_hermitian: bool = True) -> torch.Tensor:
    r"""Inverse square root ``A^(-1/2)`` of Hermitian positive definite matrices (whitening).

    Parameters
    ----------
    A : Tensor
        Hermitian positive definite matrices ``(..., n, n)``, e.g. covariance matrices.
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``A^(-1/2)``; ``W X`` whitens data with covariance ``A``.

    Raises
    ------
    DomainError
        A non-positive eigenvalue; add a ridge (``A + s I``) or clamp
        (``eg.clamp_eigenvalues(A, min=...)``).

    Notes
    -----
    ``D_ij = -1 / (√w_i √w_j (√w_i + √w_j))``, evaluated without cancellation; derivatives as
    in :func:`sqrtm`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.invsqrtm(torch.diag(torch.tensor([4.0, 0.25], dtype=torch.float64)))
    tensor([[0.5000, 0.0000],
            [0.0000, 2.0000]], dtype=torch.float64)
    """
    return apply_spectral(A, PowerFunction(-0.5, name="eigengrad.invsqrtm"), UPLO, check_hermitian)


def logm(A: torch.Tensor, *, UPLO: str = "L", check_hermitian: bool = True) -> torch.Tensor:
    r"""Principal logarithm of Hermitian positive definite matrices, ``V log(Λ) V^H``.

    Parameters
    ----------
    A : Tensor
        Hermitian positive definite matrices ``(..., n, n)``.
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``log(A)``, Hermitian.

    Raises
    ------
    DomainError
        A non-positive eigenvalue: the message names it and how to shift or clamp the spectrum.

    Notes
    -----
    ``D_ij = 2 atanh(r) / (r (w_i + w_j))`` with ``r = (w_i - w_j) / (w_i + w_j)`` (``1 / w_i``
    when equal): no cancellation at near-equal eigenvalues, no gap in a denominator.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = (2 * torch.eye(2, dtype=torch.float64)).requires_grad_()
    >>> eg.logm(A).trace().backward()
    >>> A.grad
    tensor([[0.5000, 0.0000],
            [0.0000, 0.5000]], dtype=torch.float64)
    """
    return apply_spectral(A, LogFunction(), UPLO, check_hermitian)


def expm(A: torch.Tensor, *, UPLO: str = "L", check_hermitian: bool = True) -> torch.Tensor:
    r"""Exponential of Hermitian matrices, ``V e^Λ V^H``.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``.
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``exp(A)``, Hermitian positive definite.

    Raises
    ------
    DomainError
        ``e^w`` overflows the dtype (eigenvalue above about 709 in float64, 88 in float32).

    Notes
    -----
    ``D_ij = -e^max(w_i, w_j) expm1(-|w_i - w_j|) / |w_i - w_j|`` (``e^w_i`` when equal):
    cancellation-free and overflow-free. For non-Hermitian ``A`` use
    :func:`torch.linalg.matrix_exp`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.expm(torch.zeros(2, 2, dtype=torch.float64))
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    """
    return apply_spectral(A, ExpFunction(), UPLO, check_hermitian)


def powm(
    A: torch.Tensor, p: float, *, UPLO: str = "L", check_hermitian: bool = True
) -> torch.Tensor:
    r"""Real power ``A^p = V Λ^p V^H`` of Hermitian matrices.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``. Domain: any for integer ``p >= 0``; invertible for
        integer ``p < 0``; positive semidefinite for non-integer ``p > 0``; positive definite
        for non-integer ``p < 0``.
    p : float
        The exponent.
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        ``A^p``.

    Raises
    ------
    DomainError
        An eigenvalue outside the domain (forward), or an unbounded derivative (backward, e.g.
        ``p < 1`` at a zero eigenvalue).

    Notes
    -----
    ``D_ij = |w_j|^(p-1) expm1(p r) / expm1(r)``, ``r = log(|w_i| / |w_j|)`` computed as
    ``2 atanh((|w_i| - |w_j|) / (|w_i| + |w_j|))`` (sign ``(-1)^(p-1)`` for two negative
    eigenvalues); the plain quotient where the signs differ or one is zero; ``p w^(p-1)`` where
    equal.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.powm(torch.diag(torch.tensor([4.0, 9.0], dtype=torch.float64)), 1.5)
    tensor([[ 8.,  0.],
            [ 0., 27.]], dtype=torch.float64)
    """
    # numbers.Real covers NumPy scalars; a tensor exponent is refused (p is not differentiated)
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not math.isfinite(p):
        raise InputError(f"eigengrad.powm: expected a finite real exponent p; received {p!r}.")
    return apply_spectral(A, PowerFunction(float(p)), UPLO, check_hermitian)


def _clamp_bound(value: Any, name: str, unbounded: float) -> float:
    """Return a clamp bound as a float, finite or ``unbounded`` (what ``None`` means).

    ``unbounded`` is ``-inf`` for ``min`` and ``inf`` for ``max``.
    """
    bound = unbounded if value is None else real_number(value)
    if not (math.isfinite(bound) or bound == unbounded):
        raise InputError(
            f"eigengrad.clamp_eigenvalues: expected a real {name}, finite or {unbounded} (or None "
            f"for no bound); received {name}={value!r}."
        )
    return bound


def clamp_eigenvalues(
    A: torch.Tensor,
    min: float | None = None,
    max: float | None = None,
    *,
    UPLO: str = "L",
    check_hermitian: bool = True,
) -> torch.Tensor:
    r"""Clamp the eigenvalues of Hermitian matrices: ``V clamp(Λ, min, max) V^H``.

    The rectification layer of SPD networks (ReEig: ``min = ε``) and a projection onto
    matrices with bounded spectrum.

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``.
    min, max : float, optional
        Bounds (``None``: unbounded). ``min <= max``.
    UPLO, check_hermitian
        As in :func:`eigengrad.eigh`.

    Returns
    -------
    Tensor
        The clamped matrix.

    Raises
    ------
    InputError
        Neither bound given, or ``min > max``.

    Notes
    -----
    Divided differences of the piecewise linear ``clamp``: ``1`` between two eigenvalues inside
    ``[min, max]``, ``0`` between two on the same side outside, the exact quotient across a kink.
    At an eigenvalue exactly on a kink the derivative is taken as ``1`` (as :func:`torch.clamp`
    does), an element of the subdifferential ``[0, 1]``; at eigenvalues strictly inside or
    outside the derivative is exact.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> eg.clamp_eigenvalues(torch.diag(torch.tensor([-1.0, 0.5, 3.0])), min=0.0, max=2.0)
    tensor([[0.0000, 0.0000, 0.0000],
            [0.0000, 0.5000, 0.0000],
            [0.0000, 0.0000, 2.0000]])
    """
    if min is None and max is None:
        raise InputError(
            "eigengrad.clamp_eigenvalues: expected at least one of min=..., max=...; received "
            "neither (the result would be A itself)."
        )
    low = _clamp_bound(min, "min", -math.inf)
    high = _clamp_bound(max, "max", math.inf)
    if low > high:
        raise InputError(
            f"eigengrad.clamp_eigenvalues: expected min <= max; received min={low}, max={high}."
        )
    return apply_spectral(A, ClampFunction(low, high), UPLO, check_hermitian)
