"""Scalar functions applied to a spectrum: values, divided differences, domain checks (torch side).

A :class:`SpectralFunction` is what :func:`eigengrad.matrix_function` and the named functions
apply to the eigenvalues. It knows how to evaluate ``f``, its first divided differences ``D``
(Daleckii-Krein), its second divided differences ``T`` (double backward) and which eigenvalues
are outside its domain. The formulas live in :mod:`eigengrad._rules._divided_differences`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._policy import batch_location
from ._rules import _divided_differences as rd
from .exceptions import DomainError, InputError

Elementwise = Callable[[torch.Tensor], torch.Tensor]


def locate(w: torch.Tensor, bad: torch.Tensor) -> tuple[float, int, str, int]:
    """Return ``(value, index, location, count)`` of the first flagged eigenvalue."""
    n = w.shape[-1]
    flat = int(bad.reshape(-1).nonzero()[0])
    batch, i = divmod(flat, n)
    return float(w.reshape(-1)[flat]), i, batch_location(w.shape[:-1], batch), int(bad.sum())


def _functorch_active() -> bool:
    return torch._C._functorch.peek_interpreter_stack() is not None


def derivative(f: Elementwise) -> Elementwise:
    """Return the elementwise derivative of an elementwise ``f``, by automatic differentiation.

    Inside a ``torch.func`` transform: ``torch.func.jvp`` with a tangent of ones. Elsewhere
    (also inside the forward-mode rules of ``torch.autograd.forward_ad``, where nested forward
    mode is not supported): reverse mode on a fresh leaf, keeping the graph so that nested calls
    (``derivative(derivative(f))``) give higher derivatives.
    """

    def df(x: torch.Tensor) -> torch.Tensor:
        try:
            if _functorch_active():
                return torch.func.jvp(f, (x,), (torch.ones_like(x),))[1]
            with torch.enable_grad():
                leaf = x if x.requires_grad else x.detach().requires_grad_(True)
                y = f(leaf)
                (g,) = torch.autograd.grad(y.sum(), leaf, create_graph=True, allow_unused=True)
        except (RuntimeError, NotImplementedError) as err:
            raise InputError(
                "eigengrad.matrix_function: could not differentiate the scalar function f "
                f"automatically ({err}). Pass its derivative explicitly: df=... (and d2f=... "
                "for double backward)."
            ) from err
        if g is None:
            return torch.zeros_like(x)
        return g if x.requires_grad else g.detach()

    return df


class SpectralFunction:
    """A scalar function of the eigenvalues, with stable divided differences.

    Subclasses override :meth:`values`, :meth:`first`, :meth:`second_derivative` and
    :meth:`prepare`. ``aux`` is a per-eigenvalue tensor computed once by :meth:`prepare` (the
    selection indicator of a projector; ``w`` itself otherwise).
    """

    name = "eigengrad.matrix_function"
    #: Relative accuracy of :meth:`first`, as a power of eps (1: closed form, 2/3: generic).
    accuracy_power = 1.0
    #: Piecewise linear ``f`` (clamp, indicators): ``f''`` is zero except at kinks, where no
    #: Taylor estimate holds, so second divided differences always use exact quotients.
    piecewise_linear = False

    def prepare(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        """Check the domain (raise :class:`DomainError`) and return ``(aux,)``."""
        return (w,)

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """``f(w)``."""
        raise NotImplementedError

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """First divided differences ``D``, shape ``(..., n, n)``."""
        raise NotImplementedError

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Elementwise ``f''`` (used by the second divided differences)."""
        raise NotImplementedError

    def second(self, w: torch.Tensor, aux: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        """Second divided differences ``T``, shape ``(..., n, n, n)``."""
        eps = torch.finfo(w.dtype).eps
        accuracy = 0.0 if self.piecewise_linear else eps**self.accuracy_power
        return rd.second_divided_differences(
            w, D, self.second_derivative, self.second_derivative(w), accuracy
        )

    def derivative(self) -> SpectralFunction:
        """Return the spectral function ``f'`` (for the backward of ``tr f(A)``)."""
        raise NotImplementedError(f"{self.name}: the derivative function is not available.")

    def check_first(self, w: torch.Tensor, D: torch.Tensor) -> tuple[torch.Tensor]:
        """Raise :class:`DomainError` if a divided difference is infinite (unbounded derivative)."""
        bad = ~torch.isfinite(D)
        if bool(bad.any()):
            rows = bad.any(dim=-1)
            value, i, location, count = locate(w, rows)
            raise DomainError(
                f"{self.name}: the derivative is unbounded at eigenvalue {value:.6g} (index {i})"
                f"{location}; {count} eigenvalue(s) affected. The function is not differentiable "
                "there (e.g. sqrt at 0). Shift the matrix away from it (A + s I) or clamp the "
                "spectrum first with eg.clamp_eigenvalues(A, min=...)."
            )
        return (D,)

    def check_second(self, w: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor]:
        """Raise :class:`DomainError` if a second divided difference is infinite."""
        bad = ~torch.isfinite(T)
        if bool(bad.any()):
            rows = bad.any(dim=-1).any(dim=-1)
            value, i, location, _ = locate(w, rows)
            raise DomainError(
                f"{self.name}: the second derivative (double backward) is unbounded at "
                f"eigenvalue {value:.6g} (index {i}){location}. Shift the matrix away from it "
                "(A + s I) or clamp the spectrum first with eg.clamp_eigenvalues(A, min=...)."
            )
        return (T,)


class ScalarFunction(SpectralFunction):
    """A user-supplied elementwise ``f`` with derivatives given or obtained by forward AD."""

    accuracy_power = 2.0 / 3.0

    def __init__(
        self,
        f: Elementwise,
        df: Elementwise | None = None,
        d2f: Elementwise | None = None,
        *,
        name: str = "eigengrad.matrix_function",
        higher: tuple[Elementwise | None, ...] = (),
        label: str = "f",
    ) -> None:
        if not callable(f):
            raise InputError(
                f"{name}: expected f to be a callable acting elementwise on a real tensor "
                f"(e.g. torch.exp); received {type(f).__name__}."
            )
        self.f = f
        self.df = df if df is not None else derivative(f)
        self.d2f = d2f if d2f is not None else derivative(self.df)
        self.higher = higher
        self.name = name
        self.label = label  # "f", or "f'" for the derivative a trace's backward applies

    def prepare(self, w: torch.Tensor) -> tuple[torch.Tensor]:
        fw = self.f(w)
        if not isinstance(fw, torch.Tensor) or fw.shape != w.shape:
            raise InputError(
                f"{self.name}: f must map a real tensor of eigenvalues elementwise to a tensor of "
                f"the same shape; for input shape {tuple(w.shape)} it returned "
                f"{getattr(fw, 'shape', type(fw).__name__)}."
            )
        if fw.is_complex():
            raise InputError(
                f"{self.name}: f must be real-valued on real eigenvalues (the result must be "
                "Hermitian); it returned a complex tensor."
            )
        check_values(
            fw,
            w,
            f"{self.name}: {self.label} is not finite",
            f"They lie outside the domain of {self.label}: shift the matrix (A + s I) or clamp "
            "its spectrum first (eg.clamp_eigenvalues(A, min=..., max=...)).",
        )
        return (w,)

    def values(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return self.f(w).to(w.dtype)

    def first(self, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(w.dtype).eps
        return rd.generic_divided_differences(w, self.f(w), self.df(w), self.df, eps)

    def second_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.d2f(x)

    def derivative(self) -> SpectralFunction:
        d3f = self.higher[0] if self.higher else None
        return ScalarFunction(
            self.df, self.d2f, d3f, name=self.name, higher=self.higher[1:], label=self.label + "'"
        )


def check_positive(w: torch.Tensor, name: str, strict: bool, what: str) -> None:
    """Raise :class:`DomainError` unless every eigenvalue is ``> 0`` (``>= 0`` if not strict)."""
    bad = (w <= 0) if strict else (w < 0)
    if bool(bad.any()):
        value, i, location, count = locate(w, bad)
        need = (
            "positive definite (every eigenvalue > 0)"
            if strict
            else ("positive semidefinite (every eigenvalue >= 0)")
        )
        raise DomainError(
            f"{name}: {what} needs a {need} matrix; received eigenvalue {value:.6g} (index {i})"
            f"{location}, {count} eigenvalue(s) outside the domain. Shift the spectrum "
            f"(A + s I with s > {-value:.3g}) or clamp it first, e.g. "
            f"eg.clamp_eigenvalues(A, min={'1e-6' if strict else '0.0'})."
        )


def check_values(fw: torch.Tensor, w: torch.Tensor, problem: str, fix: str) -> None:
    """Raise :class:`DomainError` where ``fw = f(w)`` is not finite.

    The message reads ``"{problem} at eigenvalue ... (index ...); ... affected. {fix}"``.
    """
    bad = ~torch.isfinite(fw)
    if bool(bad.any()):
        value, i, location, count = locate(w, bad)
        raise DomainError(
            f"{problem} at eigenvalue {value:.6g} (index {i}){location}; {count} eigenvalue(s) "
            f"affected. {fix}"
        )
