"""Input checks shared by every torch entry point.

Each check raises a typed error from :mod:`eigengrad.exceptions` whose message names the function,
what was expected, what was received, and how to fix it. The checks that inspect values (finiteness,
symmetry) cost one device synchronisation in total.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch

from .exceptions import (
    InputDTypeError,
    InputError,
    InputShapeError,
    NonFiniteInputError,
    NotHermitianError,
    NotSquareError,
)

SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the real dtype of the same precision (``complex128 -> float64``)."""
    return torch.empty((), dtype=dtype).real.dtype


_EPS = {dtype: torch.finfo(real_dtype(dtype)).eps for dtype in SUPPORTED_DTYPES}


def machine_eps(dtype: torch.dtype) -> float:
    """Return the machine epsilon of ``dtype`` (of its real part for complex dtypes)."""
    return _EPS[dtype]


def check_square(A: object, fn: str) -> torch.Tensor:
    """Check that ``A`` is a floating or complex tensor of shape ``(..., n, n)``."""
    if not isinstance(A, torch.Tensor):
        raise InputDTypeError(
            f"{fn}: expected a torch.Tensor of shape (..., n, n), received {type(A).__name__}. "
            f"Convert it first, e.g. torch.as_tensor(A, dtype=torch.float64)."
        )
    if A.dtype not in SUPPORTED_DTYPES:
        raise InputDTypeError(
            f"{fn}: expected dtype float32, float64, complex64 or complex128, received {A.dtype}. "
            f"Cast the input, e.g. A.to(torch.float64) (eigensolvers need float32 or wider)."
        )
    if A.ndim < 2:
        raise InputShapeError(
            f"{fn}: expected a matrix or a batch of matrices, shape (..., n, n); received a "
            f"{A.ndim}-d tensor of shape {tuple(A.shape)}. For a scalar use A.reshape(1, 1)."
        )
    if A.shape[-1] != A.shape[-2]:
        raise NotSquareError(
            f"{fn}: expected square matrices, shape (..., n, n); received shape {tuple(A.shape)} "
            f"(last two dimensions {A.shape[-2]} != {A.shape[-1]}). For rectangular input use a "
            f"singular value decomposition, or form A^H A."
        )
    return A


def check_real_matrix(A: object, fn: str, complex_hint: str) -> torch.Tensor:
    """Check that ``A`` is a real float32/float64 tensor of shape ``(n, n)`` (any layout).

    ``complex_hint`` ends the message for complex input (what to use instead).
    """
    if not isinstance(A, torch.Tensor):
        raise InputError(
            f"{fn}: expected a torch.Tensor of shape (n, n) (dense, sparse COO or CSR), "
            f"received {type(A).__name__}."
        )
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise NotSquareError(f"{fn}: expected a square (n, n) matrix, received {tuple(A.shape)}.")
    if A.dtype.is_complex:
        raise InputError(
            f"{fn}: complex Hermitian matrices are not supported (received {A.dtype}); "
            + complex_hint
        )
    if A.dtype not in (torch.float32, torch.float64):
        raise InputDTypeError(f"{fn}: expected float32 or float64, received {A.dtype}.")
    return A


def check_uplo(UPLO: str, fn: str) -> None:
    """Check the triangle argument of the Hermitian solvers."""
    if UPLO not in ("L", "U"):
        raise InputError(f"{fn}: expected UPLO='L' or UPLO='U', received {UPLO!r}.")


def default_hermitian_rtol(dtype: torch.dtype) -> float:
    """Relative asymmetry ``max|A - A^H| / max|A|`` accepted by default: ``sqrt(eps)``."""
    return math.sqrt(machine_eps(dtype))


def check_integer(value: Any, name: str, fn: str, minimum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer of at least ``minimum``, else InputError.

    Python, NumPy and 0-d integer tensor values count, and integral floats (``1e4``); bools
    do not.
    """
    number: int | None
    try:
        if isinstance(value, bool) or (
            isinstance(value, torch.Tensor) and value.dtype == torch.bool
        ):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        # an integral float (max_iter=1e4) counts too
        is_float = isinstance(value, float) or type(value).__module__ == "numpy"
        number = int(value) if is_float and math.isfinite(value) and value == int(value) else None
    if number is None or (minimum is not None and number < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise InputError(f"{fn}: expected an integer {name}{bound}, received {name}={value!r}.")
    return number


def real_number(value: Any) -> float:
    """``float(value)`` for a real number (not a string or bool), else NaN."""
    if isinstance(value, (str, bytes, bool)):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def check_tolerance(value: Any, name: str, fn: str) -> float:
    """``value`` as a ``float`` if it is a finite positive real number, else InputError."""
    number = real_number(value)
    if not (math.isfinite(number) and number > 0):
        raise InputError(
            f"{fn}: expected a finite positive {name}, received {name}={value!r}. Omit it for "
            f"the default."
        )
    return number


def check_finite(A: torch.Tensor, fn: str) -> None:
    """Raise :class:`NonFiniteInputError` if ``A`` has NaN or infinite entries (one sync)."""
    if A.numel() == 0 or bool(torch.isfinite(A).all()):
        return
    bad = ~torch.isfinite(A)
    count = int(bad.sum())
    first = tuple(int(i) for i in bad.nonzero()[0].tolist())
    raise NonFiniteInputError(
        f"{fn}: expected finite entries; received {count} NaN or infinite entr"
        f"{'y' if count == 1 else 'ies'} (first at index {first}) in a tensor of shape "
        f"{tuple(A.shape)}. Check the computation that produced A; eigengrad never returns "
        f"NaN silently."
    )


def check_nonnegative(value: Any, name: str, fn: str) -> float:
    """``value`` as a ``float`` if it is a real number ``>= 0`` (``inf`` included).

    Anything else (NaN, negative, strings, bools) raises InputError.
    """
    number = real_number(value)
    if not number >= 0:  # NaN fails too
        raise InputError(
            f"{fn}: expected a real {name} >= 0, received {name}={value!r}. Omit it for the "
            f"default."
        )
    return number


def check_cluster_tolerances(rtol: Any, atol: Any, fn: str) -> tuple[float | None, float]:
    """Return ``(rtol, atol)``, each checked by :func:`check_nonnegative` (``rtol=None`` kept)."""
    checked = None if rtol is None else check_nonnegative(rtol, "rtol", fn)
    return checked, check_nonnegative(atol, "atol", fn)


def check_start(
    X: Any, n: int, dtype: torch.dtype, fn: str, name: str, vector: bool = False
) -> torch.Tensor:
    """Validate a start block ``(n, j)`` (a vector ``(n,)`` if ``vector``); return it detached.

    It must be finite, and real when ``dtype`` (the operator's) is real.
    """
    expected = f"({n},)" if vector else f"(n, j) = ({n}, j)"
    if not (isinstance(X, torch.Tensor) and X.ndim == (1 if vector else 2) and X.shape[0] == n):
        raise InputError(
            f"{fn}: expected a start {'vector' if vector else 'block'} {name} of shape "
            f"{expected}, received {getattr(X, 'shape', type(X).__name__)}."
        )
    if X.is_complex() and not dtype.is_complex:
        raise InputDTypeError(
            f"{fn}: expected a real {name} for a real operator, received dtype {X.dtype}. Pass "
            f"{name}.real, or make the operator complex."
        )
    check_finite(X.detach(), fn)
    return X.detach()


UPLO_TRIANGLE = "read only the UPLO triangle, as torch.linalg.eigh does"
HERMITIAN_PART = "use its Hermitian part (A + A^H) / 2"


def not_hermitian_error(
    fn: str,
    asymmetry: float,
    reference: str,
    tolerance: float,
    is_complex: bool,
    unchecked: str | None = UPLO_TRIANGLE,
) -> NotHermitianError:
    """Build the error for a matrix whose relative asymmetry exceeds ``tolerance``.

    ``asymmetry`` is ``max|A - A^H|`` divided by the norm named in ``reference``; ``unchecked``
    says what ``fn`` does with ``check_hermitian=False`` (``None``: ``fn`` has no such option).
    """
    kind = "Hermitian" if is_complex else "symmetric"
    fixes = "Symmetrize it ((A + A.mH) / 2)"
    if unchecked is None:
        fixes += " or use eg.eig for nonsymmetric matrices."
    else:
        fixes += (
            f", use eg.eig for nonsymmetric matrices, or pass check_hermitian=False to {unchecked}."
        )
    return NotHermitianError(
        f"{fn}: expected a {kind} matrix; received one with relative asymmetry "
        f"max|A - A^H| / {reference} = {asymmetry:.3g} > {tolerance:.3g}. {fixes}"
    )


def check_finite_hermitian(
    A: torch.Tensor,
    fn: str,
    hermitian_rtol: float | None,
    unchecked: str | None = UPLO_TRIANGLE,
) -> None:
    """Check that ``A`` is finite and, unless ``hermitian_rtol is None``, Hermitian.

    The asymmetry is measured per matrix as ``max|A - A^H| / max|A_ij|``; the message reports
    the worst matrix of the batch and says what ``check_hermitian=False`` does (``unchecked``).
    """
    check_finite(A, fn)
    if hermitian_rtol is None or A.numel() == 0:
        return
    magnitude = A.abs().amax(dim=(-2, -1))
    diff = (A - A.mH.contiguous()).abs().amax(dim=(-2, -1))
    ratio = float((diff / torch.where(magnitude > 0, magnitude, 1.0)).amax())
    if ratio > hermitian_rtol:
        raise not_hermitian_error(fn, ratio, "max|A_ij|", hermitian_rtol, A.is_complex(), unchecked)
