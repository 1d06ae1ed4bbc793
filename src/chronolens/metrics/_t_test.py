"""Student's t test and the family-wise corrections the verdict uses, without SciPy.

``two_sided_p(t, df)`` is ``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom,
``I_{df / (df + t^2)}(df / 2, 1 / 2)`` (the regularised incomplete beta function, evaluated by
its continued fraction as in Numerical Recipes, section 6.4). ``adjusted(p, "holm")`` is Holm's
step-down adjustment (Holm 1979): with the p-values sorted, ``p_(i)`` becomes
``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where the adjusted value is at most
``alpha`` keeps the probability of any false rejection at most ``alpha`` whatever the
dependence between the tests. ``"bonferroni"`` multiplies by ``m``; ``"none"`` leaves them.
"""

from __future__ import annotations

import math

import numpy as np

CORRECTIONS = ("holm", "bonferroni", "none")


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of ``I_x(a, b)`` (modified Lentz; converges for x < (a+1)/(a+b+2))."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``, the regularised incomplete beta function, for ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def two_sided_p(t: float, df: float) -> float:
    """``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return float("nan")
    if math.isinf(t):
        return 0.0
    return min(1.0, regularized_beta(df / 2.0, 0.5, df / (df + t * t)))


def adjusted(p_values: np.ndarray, correction: str) -> np.ndarray:
    """The p-values adjusted for their number (NaN entries are not tests and stay NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = p.copy()
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if correction == "none" or m == 0:
        return out
    if correction == "bonferroni":
        out[tested] = np.minimum(1.0, m * p[tested])
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out
