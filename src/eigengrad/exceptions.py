"""Typed errors and warnings raised by eigengrad.

Every error says which function raised it, what was expected, what was received and how to fix it.
Every warning that concerns the meaning of a derivative (gauge dependence, subgradients, unbounded
derivatives) is a subclass of :class:`EigengradWarning`, so it can be filtered or escalated with the
standard :mod:`warnings` machinery, e.g. ``warnings.simplefilter("error", eg.EigengradWarning)``.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "DefectiveEigenvalueError",
    "DefectiveEigenvalueWarning",
    "DomainError",
    "EigengradError",
    "EigengradWarning",
    "GaugeDependenceError",
    "GaugeDependenceWarning",
    "InputDTypeError",
    "InputError",
    "InputShapeError",
    "NonFiniteInputError",
    "NotHermitianError",
    "NotPositiveDefiniteError",
    "NotSquareError",
    "SplitClusterError",
    "SplitClusterWarning",
    "SubgradientWarning",
]


class EigengradError(Exception):
    """Base class of every error raised by eigengrad."""


class InputError(EigengradError, ValueError):
    """The input is not a valid argument of the function."""


class InputShapeError(InputError):
    """The input has the wrong number of dimensions."""


class NotSquareError(InputShapeError):
    """The last two dimensions of a matrix input differ."""


class InputDTypeError(EigengradError, TypeError):
    """The input dtype is not supported (integer, bool, half precision)."""


class NonFiniteInputError(InputError):
    """The input contains NaN or infinite entries."""


class NotHermitianError(InputError):
    """A Hermitian (real symmetric) input is asymmetric beyond the tolerance."""


class DomainError(InputError):
    """An eigenvalue lies outside the domain of the requested spectral function."""


class SplitClusterError(InputError):
    """A selection of eigenvalues splits a cluster of (numerically) equal eigenvalues."""


class GaugeDependenceError(EigengradError, ArithmeticError):
    """The loss depends on an arbitrary basis or phase choice: its derivative does not exist."""


class DefectiveEigenvalueError(EigengradError, ArithmeticError):
    """An eigenvalue is defective or nearly so: its derivative is unbounded."""


class NotPositiveDefiniteError(EigengradError, ArithmeticError):
    """A matrix that must be positive definite (a Cholesky factorization) is not.

    ``index`` is the row (original numbering) whose pivot failed, when known.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class EigengradWarning(UserWarning):
    """Base class of every warning emitted by eigengrad."""


class GaugeDependenceWarning(EigengradWarning):
    """The loss depends on an arbitrary basis or phase; the gauge-projected gradient is used."""


class SubgradientWarning(EigengradWarning):
    """A cluster's eigenvalues were weighted unequally; the min-norm subgradient is used."""


class SplitClusterWarning(EigengradWarning):
    """A computed selection splits a cluster of (numerically) equal eigenvalues."""


class DefectiveEigenvalueWarning(EigengradWarning):
    """An eigenvalue is (nearly) defective: its derivative is unbounded or huge."""


class ConvergenceWarning(EigengradWarning):
    """An iterative solve stopped before reaching its tolerance."""
