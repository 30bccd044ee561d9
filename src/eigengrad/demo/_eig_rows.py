"""Demo rows for ``eg.eig`` and the spectral radius/abscissa: EVIDENCE.md item 6."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import torch

from .. import _eig, _eig_sensitivity, _spectral_extrema
from ..exceptions import DefectiveEigenvalueWarning, EigengradWarning, GaugeDependenceWarning
from ..testing import directional_fd, nonnormal_with_spectrum, relative_error
from ._table import Row

Loss = Callable[[torch.Tensor], torch.Tensor]


def _grad(loss: Loss, A: torch.Tensor) -> tuple[torch.Tensor | str, list[warnings.WarningMessage]]:
    """Gradient of ``loss`` at ``A`` (or the error text), and the eigengrad warnings seen."""
    A = A.detach().clone().requires_grad_()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", EigengradWarning)
        try:
            (g,) = torch.autograd.grad(loss(A), A)
        except RuntimeError as err:
            return f"error: {str(err).split(':')[0]}", []
    return g, [m for m in seen if issubclass(m.category, EigengradWarning)]


def _native(result: torch.Tensor | str) -> str:
    if isinstance(result, str):
        return result
    if not bool(torch.isfinite(result).all()):
        return "NaN, no explanation"
    return f"finite (max |g| = {float(result.abs().max()):.3g}), no warning"


def _first(seen: list[warnings.WarningMessage], category: type[Warning]) -> str | None:
    for m in seen:
        if issubclass(m.category, category):
            return str(m.message)
    return None


def _jordan_rows() -> list[Row]:
    rows = []
    cases = [
        ("Jordan block [[2, 1], [0, 2]]", [[2.0, 1.0], [0.0, 2.0]], "2.25e+15"),
        ("1e-10-perturbed Jordan block [[2, 1], [1e-10, 2]]", [[2.0, 1.0], [1e-10, 2.0]], "5e+04"),
    ]
    for case, matrix, kappa in cases:
        A = torch.tensor(matrix, dtype=torch.float64)
        for name, which in (("sum |v_1|", "vector"), ("Re lambda_0", "value")):

            def loss(X: torch.Tensor, solver: Any, which: str = which) -> torch.Tensor:
                w, V = solver(X)
                return V[:, 1].abs().sum() if which == "vector" else w[0].real

            g_nat, _ = _grad(lambda X: loss(X, torch.linalg.eig), A)
            g_eg, seen = _grad(lambda X: loss(X, _eig.eig), A)
            message = _first(seen, DefectiveEigenvalueWarning)
            finite = isinstance(g_eg, torch.Tensor) and bool(torch.isfinite(g_eg).all())
            ok = message is not None and kappa in message and finite
            rows.append(
                Row(
                    case=case,
                    loss=f"{name} (derivative unbounded: eigenvalues move like e^(1/2))",
                    native=_native(g_nat),
                    eigengrad=f"DefectiveEigenvalueWarning: condition number {kappa}"
                    + (", distance to defective ~1e-10" if "distance" in (message or "") else "")
                    + ("; finite" if finite else "; NOT FINITE")
                    if message
                    else "no warning (WRONG)",
                    ok=ok,
                )
            )
    A = torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    g_eg, seen = _grad(lambda X: _eig.eigvals(X).real.sum(), A)
    err = relative_error(g_eg, torch.eye(2, dtype=A.dtype)) if isinstance(g_eg, torch.Tensor) else 1
    rows.append(
        Row(
            case="Jordan block [[2, 1], [0, 2]]",
            loss="Re(lambda_0 + lambda_1) = trace (smooth)",
            native="I (exact)",
            eigengrad=f"I, rel. error {err:.1e}, no warning" if not seen else "warned (WRONG)",
            ok=err < 1e-12 and not seen,
        )
    )
    return rows


def _phase_rows() -> list[Row]:
    rows = []
    cases = [
        ("real spectrum: [[2, 1], [0.5, 3]]", [[2.0, 1.0], [0.5, 3.0]]),
        ("complex spectrum: [[0, 1], [-1, 0.5]]", [[0.0, 1.0], [-1.0, 0.5]]),
    ]
    for case, matrix in cases:
        A = torch.tensor(matrix, dtype=torch.float64)

        def loss(X: torch.Tensor, solver: Any) -> torch.Tensor:
            V = solver(X)[1]
            return 1e-3 * (V[0, 0] + V[1, 0]).imag  # depends on the phase of v_0

        g_nat, _ = _grad(lambda X: loss(X, torch.linalg.eig), A)
        _, seen = _grad(lambda X: loss(X, _eig.eig), A)
        message = _first(seen, GaugeDependenceWarning)
        found = re.search(r" is ([0-9.e+-]+) > rtol", message or "")
        measured = found.group(1) if found else "?"
        rows.append(
            Row(
                case=case,
                loss="1e-3 Im(v_0[0] + v_0[1]) (changes under v_0 -> e^(i phi) v_0)",
                native=_native(g_nat) + " (torch's phase check has absolute tolerance 1e-2)",
                eigengrad=f"GaugeDependenceWarning: phase of eigenvector 0, relative dependence "
                f"{measured} (independent of the loss scale)"
                if message
                else "no warning (WRONG)",
                ok=message is not None,
            )
        )
    return rows


def _invariant_rows() -> list[Row]:
    rows = []
    weights = torch.tensor([[0.3, 1.0], [2.0, -0.7], [1.5, 0.2]], dtype=torch.float64)
    for dtype in (torch.float64, torch.complex128):
        gen = torch.Generator().manual_seed(3)
        A = torch.randn(3, 3, generator=gen, dtype=torch.float64).to(dtype)
        if dtype.is_complex:
            A = A + 1j * torch.randn(3, 3, generator=gen, dtype=torch.float64)

        def loss(X: torch.Tensor, solver: Any) -> torch.Tensor:
            V = solver(X)[1]
            return ((V[:, :2].abs() ** 2) * weights).sum()

        g_eg, seen = _grad(lambda X: loss(X, _eig.eig), A)
        g_nat, _ = _grad(lambda X: loss(X, torch.linalg.eig), A)
        E = torch.randn(3, 3, generator=gen, dtype=torch.float64).to(dtype)
        fd = directional_fd(lambda X: loss(X, torch.linalg.eig), A, E, h=1e-4)
        assert isinstance(g_eg, torch.Tensor) and isinstance(g_nat, torch.Tensor)
        err_fd = abs(float((g_eg.conj() * E).real.sum()) - fd) / max(abs(fd), 1e-300)
        err_nat = relative_error(g_eg, g_nat)
        kind = "complex" if dtype.is_complex else "real"
        rows.append(
            Row(
                case=f"random 3x3 {kind} matrix",
                loss="sum_k c_k |v_i[k]|^2 over two eigenvectors (phase-invariant)",
                native="exact",
                eigengrad=f"vs torch {err_nat:.1e}, vs finite differences {err_fd:.1e}, no warning",
                ok=err_nat < 1e-10 and err_fd < 1e-8 and not seen,
            )
        )
    # A semisimple repeated eigenvalue: the projector onto its eigenspace is smooth.
    A, _ = nonnormal_with_spectrum([1.0, 1.0, 3.0, -2.0], dtype=torch.float64, seed=4)
    B = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64).reshape(4, 4)

    def proj(X: torch.Tensor, solver: Any) -> torch.Tensor:
        w, V = solver(X)
        near = (w.detach() - 1).abs() < 0.5
        return ((V[:, near] @ torch.linalg.inv(V)[near, :]).real * B).sum()

    E = torch.linspace(0.5, -0.5, 16, dtype=torch.float64).reshape(4, 4).mT
    fd = directional_fd(lambda X: proj(X, torch.linalg.eig), A, E, h=1e-5)
    g_nat, _ = _grad(lambda X: proj(X, torch.linalg.eig), A)
    g_eg, seen = _grad(lambda X: proj(X, _eig.eig), A)

    def err(g: torch.Tensor | str) -> float:
        if isinstance(g, str) or not bool(torch.isfinite(g).all()):
            return math.inf
        return abs(float((g * E).sum()) - fd) / abs(fd)

    e_nat, e_eg = err(g_nat), err(g_eg)
    rows.append(
        Row(
            case="nonnormal 4x4, semisimple double eigenvalue 1",
            loss="tr(P B), P = spectral projector onto the eigenspace of 1 (smooth)",
            native="NaN" if math.isinf(e_nat) else f"{100 * e_nat:.0f}% wrong, no warning",
            eigengrad=f"rel. error {e_eg:.1e} vs finite differences, no warning",
            ok=e_eg < 1e-6 and not seen,
        )
    )
    return rows


def _control_rows() -> list[Row]:
    # x' = (A0 - b k^T) x: lower the spectral abscissa by gradient descent on the gain k.
    A0 = torch.tensor(
        [[0.5, 1.0, 0.0, 0.0], [-1.0, 0.5, 1.0, 0.0], [0.0, 0.0, 0.2, 1.0], [0.0, 0.0, -0.5, -0.3]],
        dtype=torch.float64,
    )
    b = torch.tensor([[0.0], [1.0], [0.0], [1.0]], dtype=torch.float64)
    k = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    start = float(_spectral_extrema.spectral_abscissa(A0))
    alpha = start
    steps = 0
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", EigengradWarning)
        for steps in range(1, 301):  # noqa: B007 - the count is reported
            a = _spectral_extrema.spectral_abscissa(A0 - b @ k)
            (g,) = torch.autograd.grad(a, k)
            alpha = float(a.detach())
            if alpha < -0.2:
                break
            with torch.no_grad():
                k -= 0.2 * g
    eg_warnings = sum(issubclass(m.category, EigengradWarning) for m in seen)
    kappa = float(_eig_sensitivity.eigenvalue_condition_numbers(A0 - b @ k.detach()).max())
    return [
        Row(
            case="control: x' = (A0 - b k^T) x, A0 unstable",
            loss=f"spectral abscissa, gradient descent on k from alpha = {start:.2f}",
            native="torch.linalg.eigvals(...).real.max(): same path (smooth here)",
            eigengrad=f"stable after {steps} steps: alpha = {alpha:.3f} "
            f"(max condition number {kappa:.2g}), {eg_warnings} eigengrad warnings",
            ok=alpha < -0.2,
        )
    ]


def rows() -> list[Row]:
    """All eig rows."""
    return _jordan_rows() + _phase_rows() + _invariant_rows() + _control_rows()
