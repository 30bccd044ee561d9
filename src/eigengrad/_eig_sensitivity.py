"""Eigenvalue sensitivity of nonsymmetric matrices: condition numbers and spectral projectors.

Both are built on :func:`eigengrad.eig` and the left eigenvectors ``U^H = V^{-1}``; they are
invariant under eigenvector phases, so their derivatives are defined at every simple eigenvalue
and come from the rules of MATH.md section 6.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._eig import _Eig, _options
from ._rules import _eig as rules


class EigProjectorsResult(NamedTuple):
    """``(eigenvalues, projectors)``; ``projectors[..., i, :, :]`` belongs to eigenvalue ``i``."""

    eigenvalues: torch.Tensor
    projectors: torch.Tensor


def eigenvalue_condition_numbers(
    A: torch.Tensor,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    gauge: str = "warn",
    defective: str = "warn",
    defective_rtol: float | None = None,
) -> torch.Tensor:
    r"""Condition numbers ``κ_i = ‖u_i‖ ‖v_i‖ / |u_i^H v_i|`` of the eigenvalues of ``A``.

    ``κ_i`` bounds the first-order change of eigenvalue ``i``: ``|dλ_i| <= κ_i ‖dA‖_2``. It is
    ``1`` for normal matrices and infinite (in practice ``>~ 1 / eps``) at defective eigenvalues.

    Parameters
    ----------
    A : Tensor
        Square matrices ``(..., n, n)``; real or complex, float32 or float64.
    rtol, atol, gauge, defective, defective_rtol
        Options of :func:`eigengrad.eig`, used when ``κ`` is differentiated.

    Returns
    -------
    Tensor
        Real ``(..., n)``, in the order of ``eig(A).eigenvalues``.

    Raises
    ------
    InputDTypeError, InputShapeError, NotSquareError, NonFiniteInputError
        For invalid input.

    Notes
    -----
    ``κ_i = ‖row_i(V^{-1})‖`` for the unit-norm eigenvectors ``V``; it is phase-invariant, so its
    derivative follows from :func:`eigengrad.eig` and ``d(V^{-1}) = -V^{-1} dV V^{-1}`` at simple
    eigenvalues.

    References
    ----------
    Wilkinson, "The Algebraic Eigenvalue Problem", 1965, 2.8; Golub & Van Loan, 7.2.2.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    >>> eg.eigenvalue_condition_numbers(A)
    tensor([1.4142, 1.4142], dtype=torch.float64)
    """
    opts = _options(
        A, rtol, atol, gauge, defective, defective_rtol, "eigengrad.eigenvalue_condition_numbers"
    )
    V = _Eig.apply(A, opts)[1]
    return rules.condition_numbers(V, torch.linalg.inv(V))


def eig_projectors(
    A: torch.Tensor,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    gauge: str = "warn",
    defective: str = "warn",
    defective_rtol: float | None = None,
) -> EigProjectorsResult:
    r"""Spectral projectors ``P_i = v_i u_i^H / (u_i^H v_i)`` of the eigenvalues of ``A``.

    ``P_i`` projects onto the eigenvector ``v_i`` along the other eigenvectors: ``P_i P_j =
    δ_ij P_i``, ``Σ_i P_i = I``, ``A = Σ_i λ_i P_i``. Unlike ``v_i``, it does not depend on any
    phase choice, so its derivative is defined at every simple eigenvalue.

    Parameters
    ----------
    A : Tensor
        Square matrices ``(..., n, n)``; real or complex, float32 or float64.
    rtol, atol, gauge, defective, defective_rtol
        Options of :func:`eigengrad.eig`.

    Returns
    -------
    EigProjectorsResult
        ``(eigenvalues, projectors)`` with ``projectors`` complex of shape ``(..., n, n, n)``
        (``n^3`` entries: mind the memory for large ``n``).

    Raises
    ------
    InputDTypeError, InputShapeError, NotSquareError, NonFiniteInputError
        For invalid input.
    GaugeDependenceError, DefectiveEigenvalueError
        In backward, with ``gauge="raise"``/``defective="raise"``, when a projector of one member
        of a repeated eigenvalue (not defined: only the sum over the cluster is) or of a
        (nearly) defective eigenvalue is differentiated.

    Notes
    -----
    With ``U^H = V^{-1}``, ``P_i = v_i u_i^H``; the derivative follows from
    :func:`eigengrad.eig` and ``d(V^{-1}) = -V^{-1} dV V^{-1}`` and equals
    ``dP_i = Σ_{j != i} (P_j dA P_i + P_i dA P_j) / (λ_i - λ_j)`` (Kato). The phase gauge
    cancels exactly. Individual projectors inside a repeated eigenvalue warn; their sum over the
    cluster is exact.

    References
    ----------
    Kato, "Perturbation Theory for Linear Operators", II.2.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.tensor([[1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    >>> w, P = eg.eig_projectors(A)
    >>> P[0].real.tolist()  # projects onto e_1 along (1, 1)
    [[1.0, -1.0], [0.0, -0.0]]
    >>> bool(torch.allclose(P.sum(0), torch.eye(2, dtype=P.dtype)))
    True
    """
    opts = _options(A, rtol, atol, gauge, defective, defective_rtol, "eigengrad.eig_projectors")
    w, V = _Eig.apply(A, opts)
    Vinv = torch.linalg.inv(V)
    return EigProjectorsResult(w, V.mT.unsqueeze(-1) * Vinv.unsqueeze(-2))
