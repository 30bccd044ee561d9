"""Demo rows for ``eg.eigsh``: EVIDENCE.md item 7 (partial eigensolvers)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from .. import _eigsh
from ..exceptions import EigengradWarning, SplitClusterWarning
from ..testing import matrix_with_spectrum, projector_loss_gradient, relative_error
from ._table import Row


def _problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = 30
    w = torch.linspace(-1.0, 2.0, n, dtype=torch.float64)
    w[-2] = w[-1] = 3.0  # a double top eigenvalue
    A, w, Q = matrix_with_spectrum(w, seed=0)
    B = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    B = B + B.T
    # exact gradient of sum(top-2 eigenvalues) + tr(P B), P the top-2 eigenprojector
    selected = torch.arange(n) >= n - 2
    ref = projector_loss_gradient(w, Q, selected, B) + Q[:, -2:] @ Q[:, -2:].T
    return A, B, ref


def _loss(B: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def loss(w: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        return w.sum() + ((X @ X.T) * B).sum()

    return loss


def rows() -> list[Row]:
    """Rows: repeated top eigenvalue (dense), sparse input, split cluster."""
    A0, B, ref = _problem()
    loss = _loss(B)
    out = []
    A = A0.clone().requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X0 = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        w, X = torch.lobpcg(A, k=2, X=X0, largest=True)
    (g_nat,) = torch.autograd.grad(loss(w, X), A)
    A = A0.clone().requires_grad_()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", EigengradWarning)
        w, X, _ = _eigsh.eigsh(A, 2, which="largest", method="lobpcg")
        (g_eg,) = torch.autograd.grad(loss(w, X), A)
    err_nat, err_eg = relative_error(g_nat, ref), relative_error(g_eg, ref)
    out.append(
        Row(
            case="EVIDENCE 7: top-2 of a 30x30 matrix whose top eigenvalue is double",
            loss="sum of the 2 largest eigenvalues + tr(P B), P their projector",
            native=f"torch.lobpcg: finite but {100 * err_nat:.0f}% wrong",
            eigengrad=f"eg.eigsh: rel. error {err_eg:.1e}" + (", warned (WRONG)" if seen else ""),
            ok=err_eg < 1e-8 and not seen,
        )
    )
    As = A0.to_sparse().requires_grad_()
    try:
        w, X = torch.lobpcg(As, k=2, X=X0, largest=True)
        loss(w, X).backward()
        native = "no error"
    except (ValueError, RuntimeError) as e:
        native = f"{type(e).__name__}: {str(e)[:45]}"
    As = A0.to_sparse().requires_grad_()
    w, X, _ = _eigsh.eigsh(As, 2, which="largest", method="lobpcg")
    loss(w, X).backward()
    assert As.grad is not None
    g = As.grad.coalesce()
    i = g.indices()
    err = relative_error(g.values(), ref[i[0], i[1]])
    out.append(
        Row(
            case="EVIDENCE 7: same matrix stored sparse (COO)",
            loss="same loss",
            native="torch.lobpcg backward " + native,
            eigengrad=f"sparse gradient on the stored entries, rel. error {err:.1e}",
            ok=err < 1e-8 and g.layout == torch.sparse_coo,
        )
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", EigengradWarning)
        _eigsh.eigsh(A0, 1, which="largest", method="lobpcg")
    split = [m for m in seen if issubclass(m.category, SplitClusterWarning)]
    out.append(
        Row(
            case="EVIDENCE 7: top-1 of the same matrix",
            loss="the top eigenvector (k = 1 splits the double eigenvalue)",
            native="torch.lobpcg: arbitrary vector, no warning",
            eigengrad="SplitClusterWarning: " + str(split[0].message)[16:100] + "..."
            if split
            else "no warning (WRONG)",
            ok=bool(split),
        )
    )
    return out
