"""Guard for tangents returned by a custom ``jvp`` that has no second-order forward rule.

torch runs an ``autograd.Function``'s ``jvp`` with forward gradients disabled: tangents computed
there are constants for an outer forward level, so ``jacfwd(jacfwd(f))`` would silently give
zero second derivatives. Passing the tangents through :class:`_Guard` (together with primal
outputs that do carry the outer tangent) makes an outer forward level call the guard's ``jvp``,
which raises. Reverse mode over the tangents (``jacrev(jacfwd(f))``) passes straight through.
"""

from __future__ import annotations

from typing import Any

import torch

from ._inspect import cache_forward_signature


def guard_nested_forward(
    primals: tuple[torch.Tensor, ...], tangents: tuple[torch.Tensor, ...], message: str
) -> Any:
    """Return ``tangents`` unchanged; an outer forward-mode level raises ``NotImplementedError``.

    ``primals`` must be tensors that carry the outer level's tangent (the Function's saved
    outputs, for instance); ``message`` says why second-order forward mode is not available.
    """
    return _Guard.apply(message, len(primals), *primals, *tangents)


class _Guard(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(message: str, n_primals: int, *tensors: torch.Tensor) -> Any:
        return tuple(t.clone() for t in tensors[n_primals:])

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.message, ctx.n_primals = inputs[0], inputs[1]

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        return (None, None) + (None,) * ctx.n_primals + grads

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise NotImplementedError(ctx.message)


cache_forward_signature(_Guard)
