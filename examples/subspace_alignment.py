"""Align the lowest eigenspace of a learned symmetric matrix with a target subspace.

The parameter starts at a matrix whose two lowest eigenvalues are *equal* (a common situation: a
symmetric initialisation, a graph with symmetries). The loss, the distance between the projector
onto the two lowest eigenvectors and a target projector, is perfectly differentiable there.
torch.linalg.eigh returns NaN gradients at the first step; eg.eigh trains.
"""

import torch

import eigengrad as eg


def main() -> None:
    torch.manual_seed(0)
    n, k = 6, 2
    target = torch.linalg.qr(torch.randn(n, k, dtype=torch.float64)).Q
    P_target = target @ target.mT
    start = torch.diag(torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64))

    def loss_fn(solver, X):
        A = (X + X.mT) / 2
        V = solver(A).eigenvectors[:, :k]
        return ((V @ V.mT - P_target) ** 2).sum()

    for name, solver in (("torch.linalg.eigh", torch.linalg.eigh), ("eg.eigh", eg.eigh)):
        X = start.clone().requires_grad_()
        opt = torch.optim.Adam([X], lr=0.05)
        for step in range(300):
            opt.zero_grad()
            loss = loss_fn(solver, X)
            loss.backward()
            if not torch.isfinite(X.grad).all():
                print(f"{name:18} step {step}: NaN gradient, training stops")
                break
            opt.step()
        else:
            print(f"{name:18} 300 steps: projector distance {loss.item():.2e}")
    X = start.clone().requires_grad_()
    assert torch.isfinite(torch.autograd.grad(loss_fn(eg.eigh, X), X)[0]).all()


if __name__ == "__main__":
    main()
