"""Quadrature rules on [0, 1] for path integrals (Integrated Gradients)."""

from __future__ import annotations

import numpy as np

RULES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(alphas, weights)`` so that ``sum(weights * f(alphas))`` approximates the integral.

    Parameters
    ----------
    rule : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"}
        Gauss-Legendre nodes are exact for polynomials of degree ``2 * n_steps - 1``; the Riemann
        rules use ``n_steps`` equally spaced points (the trapezoid rule includes both ends and
        halves their weights).
    n_steps : int
        Number of points.
    """
    n = n_steps
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    weights = np.full(n, 1.0 / n)
    if rule == "riemann_left":
        alphas = np.arange(n) / n
    elif rule == "riemann_right":
        alphas = np.arange(1, n + 1) / n
    elif rule == "riemann_middle":
        alphas = (np.arange(n) + 0.5) / n
    elif rule == "riemann_trapezoid":
        if n < 2:
            raise ValueError("The trapezoid rule needs `n_steps` >= 2.")
        alphas = np.linspace(0.0, 1.0, n)
        weights = np.full(n, 1.0 / (n - 1))
        weights[0] /= 2
        weights[-1] /= 2
    else:
        raise ValueError(f"Unknown quadrature rule {rule!r}; choose one of {', '.join(RULES)}.")
    return alphas, weights
