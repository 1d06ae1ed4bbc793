"""The optimiser of activation maximization: projected Adam in time or in a Fourier basis.

The series being optimised is ``z`` (standardised units, ``(restarts, channels, time)``).

- ``parameterization="time"``: Adam moves every time point of ``z`` directly.
- ``parameterization="fourier"``: ``z = irfft(s * w)`` (orthonormal FFT), and Adam moves the
  spectrum ``w``; ``s_f = 1 / max(f, 1 / T)`` (``f`` in cycles per point), scaled so that
  ``mean(s**2) = 1``. Adam takes steps of about ``lr`` in every coordinate it moves, so in the
  time basis it changes every point equally, which the steep, high-frequency gradients of a
  CNN's input quickly turn into noise; in this basis a step changes a frequency in proportion
  to ``1 / f``, the spectrum of natural signals (the decorrelated parameterization of Olah,
  Mordvintsev and Schubert, Feature Visualization, Distill 2017). The starts are drawn in it
  too: noise with a ``1 / f`` spectrum, standardised to unit variance per channel.

Both project after every step: ``z`` is clipped to the value range, and in the Fourier basis
``w`` is recomputed from the clipped series (``rfft`` inverts ``irfft`` exactly for real
series), so the constraint holds in the series that is scored.
"""

from __future__ import annotations

import torch

PARAMETERIZATIONS = ("fourier", "time")
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


def spectrum_scale(n_timepoints: int) -> torch.Tensor:
    """``s_f = 1 / max(f, 1 / T)`` over the rfft frequencies, with ``mean(s**2) = 1``."""
    frequencies = torch.fft.rfftfreq(n_timepoints, dtype=torch.float64)
    scale = 1.0 / torch.clamp(frequencies, min=1.0 / n_timepoints)
    return (scale / scale.pow(2).mean().sqrt()).float()


class Ascent:
    """Projected Adam (Kingma and Ba, 2015) on ``z`` or on its scaled spectrum.

    Adam is written out: ``torch.optim``'s first use imports the compiler stack.

    Parameters
    ----------
    shape : (restarts, channels, time)
    parameterization : {"fourier", "time"}
    lr : float
    limits : (low, high) of torch.Tensor, or None
        Limits of ``z`` broadcastable to ``shape`` (None: unbounded).
    generator : torch.Generator
        Draws the starts.
    start_std : float
        Standard deviation of the starts (per channel).
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        parameterization: str,
        lr: float,
        limits: tuple[torch.Tensor, ...] | None,
        generator: torch.Generator,
        start_std: float,
    ) -> None:
        self.fourier = parameterization == "fourier"
        self.lr, self.limits, self.t = lr, limits, shape[-1]
        self.scale = spectrum_scale(self.t)
        z = torch.randn(*shape, generator=generator)
        if self.fourier:
            coloured = self._synthesis(torch.view_as_real(torch.fft.rfft(z, norm="ortho")))
            z = (coloured - coloured.mean(-1, keepdim=True)) / coloured.std(-1, keepdim=True)
        self.param = self._analysis(self._unsquash(self._clip(start_std * z)))
        self.first = torch.zeros_like(self.param)
        self.second = torch.zeros_like(self.param)
        self.steps = 0

    def _synthesis(self, w: torch.Tensor) -> torch.Tensor:
        if not self.fourier:
            return w
        spectrum = torch.view_as_complex(w.contiguous()) * self.scale
        return torch.fft.irfft(spectrum, n=self.t, norm="ortho")

    def _analysis(self, z: torch.Tensor) -> torch.Tensor:
        if not self.fourier:
            return z
        return torch.view_as_real(torch.fft.rfft(z, norm="ortho") / self.scale).contiguous()

    def _clip(self, z: torch.Tensor) -> torch.Tensor:
        if self.limits is None:
            return z
        return torch.clamp(z, self.limits[0], self.limits[1])

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        """Fourier basis: the limits as ``mid + half * tanh(u)`` (a smooth, exact bound)."""
        if not self.fourier or self.limits is None:
            return u
        low, high = self.limits
        return (high + low) / 2 + (high - low) / 2 * torch.tanh(u)

    def _unsquash(self, z: torch.Tensor) -> torch.Tensor:
        if not self.fourier or self.limits is None:
            return z
        low, high = self.limits
        inside = (2 * z - (high + low)) / torch.clamp(high - low, min=1e-12)
        return torch.atanh(torch.clamp(inside, -0.99, 0.99))

    def _value(self, param: torch.Tensor) -> torch.Tensor:
        return self._squash(self._synthesis(param))

    def series(self) -> torch.Tensor:
        """The current ``z``."""
        with torch.no_grad():
            return self._value(self.param)

    def step(self, grad_z: torch.Tensor) -> None:
        """One Adam step down ``grad_z`` (the loss's gradient in ``z``), then the projection."""
        if self.fourier:
            with torch.enable_grad():
                leaf = self.param.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(self._value(leaf), leaf, grad_outputs=grad_z)
        else:
            grad = grad_z
        with torch.no_grad():
            self.steps += 1
            self.first = _BETA1 * self.first + (1 - _BETA1) * grad
            self.second = _BETA2 * self.second + (1 - _BETA2) * grad.pow(2)
            m_hat = self.first / (1 - _BETA1**self.steps)
            v_hat = self.second / (1 - _BETA2**self.steps)
            self.param = self.param - self.lr * m_hat / (v_hat.sqrt() + _EPS)
            if not self.fourier:
                self.param = self._clip(self.param)
