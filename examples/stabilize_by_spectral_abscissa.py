"""Stabilise a linear system x' = (A - b k^T) x by gradient descent on the spectral abscissa.

The open-loop matrix A has eigenvalues with positive real part (unstable). The spectral abscissa
max Re(lambda) of the closed-loop matrix is differentiable wherever its maximiser is simple or a
complex-conjugate pair (as here, most of the way); eg.spectral_abscissa gives its gradient
u v^H / (u^H v) through eg.eig, and would say so (SubgradientWarning / DefectiveEigenvalueWarning)
if the descent ran into a genuine tie or a defective eigenvalue. We descend until alpha < -0.2.
"""

import torch

import eigengrad as eg


def main() -> None:
    A = torch.tensor(
        [[0.5, 1.0, 0.0, 0.0], [-1.0, 0.5, 1.0, 0.0], [0.0, 0.0, 0.2, 1.0], [0.0, 0.0, -0.5, -0.3]],
        dtype=torch.float64,
    )
    b = torch.tensor([[0.0], [1.0], [0.0], [1.0]], dtype=torch.float64)
    k = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    print(f"open loop: eigenvalues {torch.linalg.eigvals(A).numpy().round(3)}")
    alpha = eg.spectral_abscissa(A)
    for step in range(300):
        alpha = eg.spectral_abscissa(A - b @ k)
        if alpha.item() < -0.2:
            break
        (g,) = torch.autograd.grad(alpha, k)
        with torch.no_grad():
            k -= 0.2 * g
        if step % 10 == 0:
            print(f"step {step:3d}: alpha = {alpha.item():+.4f}")
    closed = (A - b @ k).detach()
    kappa = eg.eigenvalue_condition_numbers(closed)
    print(f"stable after {step} steps: alpha = {alpha.item():+.4f}, gain k = {k.detach().numpy()}")
    print(f"closed-loop eigenvalue condition numbers: {kappa.numpy().round(2)}")
    assert alpha.item() < -0.2


if __name__ == "__main__":
    main()
