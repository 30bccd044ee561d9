"""Run data-inspecting, non-differentiable code under ``torch.func`` transforms.

The degeneracy policy must look at values (which pairs are clusters, how large the gauge
dependence is) and emit warnings that name them. Python control flow on tensor values is not
allowed on ``vmap``'s batched tensors, so such code runs through :func:`inspect`: on plain tensors
it is a direct call; under a transform it goes through an ``autograd.Function`` whose ``vmap``
rule hands the *whole* batch to the function, where it may branch, synchronise and warn.
"""

from __future__ import annotations

import inspect as _pyinspect
from collections.abc import Callable
from typing import Any

import torch
from torch._C._functorch import is_functorch_wrapped_tensor

Inspector = Callable[..., tuple[torch.Tensor, ...]]


def cache_forward_signature(function: type[torch.autograd.Function]) -> None:
    """Precompute the signature that ``Function.apply`` binds on every call.

    With ``setup_context``, ``apply`` calls ``inspect.signature(forward)``, which honours a
    ``__signature__`` attribute; caching it removes tens of microseconds per call.
    """
    forward = function.forward
    forward.__signature__ = _pyinspect.signature(forward)  # type: ignore[attr-defined]


def is_transformed(*tensors: torch.Tensor | None) -> bool:
    """Whether any tensor is wrapped by a ``torch.func`` transform (``vmap``, ``grad``, ...)."""
    return any(t is not None and is_functorch_wrapped_tensor(t) for t in tensors)


def inspect(
    inspector: Inspector, /, *tensors: torch.Tensor | None, **static: Any
) -> tuple[torch.Tensor, ...]:
    """Call ``inspector(*tensors, **static)``; its outputs are constants (no gradient).

    ``inspector`` must return a tuple of tensors whose leading dimensions are the batch
    dimensions of its inputs. ``None`` entries of ``tensors`` are passed through.
    """
    if not is_transformed(*tensors):
        with torch.no_grad():
            return inspector(*tensors, **static)
    return _Inspect.apply(inspector, static, *tensors)


class _Inspect(torch.autograd.Function):
    @staticmethod
    def forward(fn: Inspector, static: dict[str, Any], *tensors: torch.Tensor | None) -> Any:
        return fn(*tensors, **static)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.mark_non_differentiable(*output)
        ctx.n_outputs = len(output)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:  # pragma: no cover - outputs are constants
        raise RuntimeError("eigengrad internal: inspection outputs are not differentiable")

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        return (None,) * ctx.n_outputs

    @staticmethod
    def vmap(info: Any, in_dims: Any, fn: Inspector, static: dict[str, Any], *tensors: Any) -> Any:
        moved: list[torch.Tensor | None] = []
        for t, d in zip(tensors, in_dims[2:], strict=True):
            if t is None:
                moved.append(None)
            elif d is None:
                moved.append(t.expand(info.batch_size, *t.shape))
            else:
                moved.append(t.movedim(d, 0))
        out = _Inspect.apply(fn, static, *moved)
        return out, (0,) * len(out)


cache_forward_signature(_Inspect)
