"""Demo rows for matrix functions and extreme eigenvalues: EVIDENCE.md items 2 and 4.

Native: the same function built through ``torch.linalg.eigh`` (``V f(Λ) V^H``), the way it is
written in practice. Reference: SciPy's block-triangular oracle ``f([[A, B], [0, A]])`` when SciPy
is installed, otherwise Daleckii-Krein with the exact eigenpairs the matrix was built from; neither
calls an eigensolver on the matrix under test.
"""

from __future__ import annotations

import math
import warnings

import torch

from .._extreme import lambda_max
from .._named_functions import sqrtm
from ..exceptions import EigengradWarning, SubgradientWarning
from ..testing import (
    block_triangular_frechet,
    divided_difference_gradient,
    matrix_with_spectrum,
    random_unitary,
    relative_error,
    symmetric_direction,
)
from ._table import Row


def _native_sqrtm(A: torch.Tensor) -> torch.Tensor:
    w, V = torch.linalg.eigh(A)
    return (V * torch.sqrt(w).unsqueeze(-2)) @ V.mH


def _grad(fn: object, A: torch.Tensor, B: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Gradient of ``tr(B f(A))`` and the eigengrad warnings seen."""
    A = A.detach().clone().requires_grad_()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", EigengradWarning)
        (g,) = torch.autograd.grad((fn(A) * B).sum(), A)  # type: ignore[operator]
    return g, [str(m.message) for m in seen if issubclass(m.category, EigengradWarning)]


def _reference(A: torch.Tensor, B: torch.Tensor, w: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """Gradient of ``tr(B sqrtm(A))`` = ``L_sqrt(A, B)`` (self-adjoint), from an oracle."""
    try:
        import scipy.linalg
    except ImportError:  # pragma: no cover - the demo runs without the test extras
        r = torch.sqrt(w)  # closed-form divided differences 1 / (√w_i + √w_j), no cancellation
        return divided_difference_gradient(w, Q, B, 1 / (r.unsqueeze(-1) + r.unsqueeze(-2)))

    def oracle(M: object) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return scipy.linalg.sqrtm(M)

    return block_triangular_frechet(A, (B + B.mH) / 2, oracle)


def _describe(err: float) -> str:
    if math.isinf(err):
        return "NaN/inf"
    if err > 1e-2:
        return f"finite but {100 * err:.0f}% wrong, no warning"
    return f"rel. error {err:.1e}"


def _identity_row() -> Row:
    n = 4
    eye = torch.eye(n, dtype=torch.float64)
    B = symmetric_direction(n, seed=1)
    ref = _reference(eye, B, torch.ones(n, dtype=torch.float64), eye)
    g_nat, _ = _grad(_native_sqrtm, eye, B)
    g_eg, seen = _grad(sqrtm, eye, B)
    err = relative_error(g_eg, ref)
    return Row(
        case="EVIDENCE 2: sqrtm at the 4x4 identity",
        loss="tr(B sqrtm(A)), gradient B/2",
        native=_describe(relative_error(g_nat, ref)),
        eigengrad=f"eg.sqrtm: rel. error {err:.1e}, no warning",
        ok=err < 1e-12 and not seen,
    )


def _exact_double_row() -> Row:
    w = torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    A, eye = torch.diag(w), torch.eye(4, dtype=torch.float64)
    B = symmetric_direction(4, seed=2)
    ref = _reference(A, B, w, eye)
    g_nat, _ = _grad(_native_sqrtm, A, B)
    g_eg, seen = _grad(sqrtm, A, B)
    err = relative_error(g_eg, ref)
    return Row(
        case="tr(B sqrtm(A)) at an exact double eigenvalue, A = diag(1, 1, 2, 3)",
        loss="tr(B sqrtm(A)) (differentiable: Daleckii-Krein)",
        native=_describe(relative_error(g_nat, ref)),
        eigengrad=f"eg.sqrtm: rel. error {err:.1e}, no warning",
        ok=err < 1e-12 and not seen,
    )


def _double_rows() -> list[Row]:
    n, trials = 8, 20
    errs_nat, worst = [], 0.0
    warned = False
    for seed in range(trials):
        w = torch.linspace(0.5, 4.0, n, dtype=torch.float64)
        w[3] = w[2]
        A, w, Q = matrix_with_spectrum(w, seed=seed)
        B = symmetric_direction(n, seed=100 + seed)
        ref = _reference(A, B, w, Q)
        g_nat, _ = _grad(_native_sqrtm, A, B)
        g_eg, seen = _grad(sqrtm, A, B)
        errs_nat.append(relative_error(g_nat, ref))
        worst = max(worst, relative_error(g_eg, ref))
        warned |= bool(seen)
    finite = sorted(e for e in errs_nat if math.isfinite(e))
    nan = trials - len(finite)
    wrong = sum(e > 1e-6 for e in errs_nat)
    spread = f", finite ones {100 * finite[0]:.0f}-{100 * finite[-1]:.0f}% off" if finite else ""
    return [
        Row(
            case=f"EVIDENCE 2: {trials} random {n}x{n} (rotated, numerically degenerate pair)",
            loss="tr(B sqrtm(A)) with an exactly double eigenvalue (rounding splits it)",
            native=f"wrong in {wrong}/{trials} (NaN in {nan}{spread}), no warning",
            eigengrad=f"eg.sqrtm: max rel. error {worst:.1e}, no warning",
            ok=worst < 1e-10 and not warned,
        )
    ]


def _near_row() -> Row:
    # near, resolvable pair: unmasked 1/gap is fine here; masking rules (xitorch) are 22% off
    w = torch.tensor([0.5, 1.0, 1.0 + 1e-10, 2.0, 3.0], dtype=torch.float64)
    A, w, Q = matrix_with_spectrum(w, seed=3)
    B = symmetric_direction(5, seed=4)
    ref = _reference(A, B, w, Q)
    g_nat, _ = _grad(_native_sqrtm, A, B)
    g_eg, seen = _grad(sqrtm, A, B)
    err = relative_error(g_eg, ref)
    return Row(
        case="Near pair, gap 1e-10 (resolvable)",
        loss="tr(B sqrtm(A))",
        native=_describe(relative_error(g_nat, ref)),
        eigengrad=f"eg.sqrtm: rel. error {err:.1e} (divided differences, no masking)",
        ok=err < 1e-8 and not seen,
    )


def _lambda_max_rows() -> list[Row]:
    n = 3
    eye = torch.eye(n, dtype=torch.float64)
    A = eye.clone().requires_grad_()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", EigengradWarning)
        (g_eg,) = torch.autograd.grad(lambda_max(A), A)
    sub = [m for m in seen if issubclass(m.category, SubgradientWarning)]
    A = eye.clone().requires_grad_()
    (g_nat,) = torch.autograd.grad(torch.linalg.eigvalsh(A)[-1], A)
    Q = random_unitary(n, seed=7)
    E = Q @ torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)) @ Q.mT
    E = (E + E.mT) / 2
    t_nat = torch.func.jvp(lambda X: torch.linalg.eigvalsh(X)[-1], (eye,), (E,))[1]
    t_eg = torch.func.jvp(lambda_max, (eye,), (E,))[1]
    err = relative_error(g_eg, eye / n)
    return [
        Row(
            case="EVIDENCE 4: eg.lambda_max of the 3x3 identity",
            loss="gradient (minimum-norm subgradient I/3)",
            native=f"e_n e_n^T (a basis pick), error {relative_error(g_nat, eye / n):.2f}",
            eigengrad=f"I/3, error {err:.1e}, one SubgradientWarning"
            + ("" if len(sub) == 1 else " MISSING"),
            ok=err < 1e-14 and len(sub) == 1,
        ),
        Row(
            case="EVIDENCE 4: same, forward mode",
            loss="d lambda_max along Q diag(1,2,3) Q^T (true one-sided value 3)",
            native=f"{float(t_nat):.4f}",
            eigengrad=f"{float(t_eg):.4f}",
            ok=abs(float(t_eg) - 3.0) < 1e-12,
        ),
    ]


def rows() -> list[Row]:
    """All spectral-function rows."""
    with warnings.catch_warnings():  # torch deprecation chatter on torch.func.jvp's first use
        warnings.simplefilter("ignore", DeprecationWarning)
        return [
            _identity_row(),
            _exact_double_row(),
            *_double_rows(),
            _near_row(),
            *_lambda_max_rows(),
        ]
