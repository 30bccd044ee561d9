"""Eigenvalue sensitivity of nonsymmetric matrices: condition numbers and spectral projectors.

Both are built on :func:`eigengrad.eig` and the left eigenvectors ``U^H = V^{-1}``; they are
invariant under eigenvector phases, so their derivatives are defined at every simple eigenvalue
and come from the rules of MATH.md section 6.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._eig import _norm, _options
from ._eig_pairs import eig_pairs


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
    DefectiveEigenvalueError
        When LAPACK's eigenvectors are linearly dependent (``κ`` is infinite), or in backward
        with ``defective="raise"`` when ``κ`` of a (nearly) defective eigenvalue is differentiated.
    GaugeDependenceError
        In backward with ``gauge="raise"``, for ``κ`` of a member of a repeated eigenvalue (it
        depends on the basis chosen inside the eigenspace).

    Notes
    -----
    ``κ_i = ‖v_i‖ ‖u_i‖`` for the biorthogonal pair ``u_i^H v_i = 1``: the 2-norm of the
    spectral projector ``P_i``, invariant under phases, so its derivative is defined at every
    simple eigenvalue, also next to a defective one. With the reduced resolvent ``S_i``:
    ``dv_i = -S_i dA v_i``, ``du_i = -S_i^H dA^H u_i``, so
    ``dκ_i = -Re(u_i^H dA S_i u_i) ‖v_i‖/‖u_i‖ - Re(v_i^H S_i dA v_i) ‖u_i‖/‖v_i‖``; the rule,
    its two evaluation paths (a Kato sum, or shifted LU solves when some eigenvalue of ``A`` is
    nearly defective) and its degeneracy policy are in :mod:`eigengrad._eig_pairs`.

    References
    ----------
    Wilkinson, "The Algebraic Eigenvalue Problem", 1965, 2.8; Golub & Van Loan, 7.2.2; Kato,
    "Perturbation Theory for Linear Operators", II.2.

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
    _, V, U = eig_pairs(A, opts)
    return _norm(V, -2) * _norm(U, -2)  # u_i^H v_i = 1


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
        (nearly) defective eigenvalue is differentiated. ``DefectiveEigenvalueError`` also when
        LAPACK's eigenvectors are linearly dependent (the projectors are infinite).

    Notes
    -----
    ``P_i = v_i u_i^H`` with ``u_i^H v_i = 1``. Its derivative is Kato's
    ``dP_i = -(S_i dA P_i + P_i dA S_i)`` with the reduced resolvent ``S_i`` of ``λ_i``
    (``= Σ_{j != i} P_j / (λ_j - λ_i)`` for a diagonalizable ``A``); VJP
    ``gA = -Σ_i (S_i^H G_i P_i^H + P_i^H G_i S_i^H)`` (``Re`` for real ``A``). It is exact at
    every simple eigenvalue, also when *another* eigenvalue is defective: ``S_i`` is then applied
    by shifted LU solves (O(n^4)) instead of the Kato sum (O(n^3)), and the forward refines the
    pairs by one step of inverse iteration (see :mod:`eigengrad._eig_pairs`). The phase gauge
    cancels exactly. Individual projectors inside a repeated eigenvalue warn; their sum over the
    cluster is exact. Projectors of a (nearly) defective eigenvalue warn (or raise), their sum
    included. Forward mode cannot see the loss: it reports any (nearly) defective eigenvalue.

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
    w, V, U = eig_pairs(A, opts)
    return EigProjectorsResult(w, V.mT.unsqueeze(-1) * U.conj().mT.unsqueeze(-2))
