"""Adapter for models seen only through their predictions (aeon, sktime, scikit-learn, ONNX).

Any object with ``predict_proba`` or any callable ``(n_cases, n_channels, n_timepoints) numpy ->
(n_cases, n_classes) scores`` can be explained with the model-agnostic methods (occlusion,
feature ablation, Shapley values). Methods that need gradients or layer activations refuse it with
a clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NoReturn

import numpy as np
import torch

from chronolens.models.base import CapabilityError, Gradient, LayerGradient
from chronolens.targets import Target


class ModelOutputError(ValueError):
    """The model ran but returned something that is not usable scores."""


class BlackBoxModel:
    """Wrap a ``predict_proba``-style model or a scoring callable.

    Parameters
    ----------
    model : object with ``predict_proba``, or callable
        Called with float32 NumPy arrays of shape (rows, n_channels, n_timepoints), or with
        (rows, n_channels * n_timepoints) when ``flatten`` is True; must return scores of shape
        (rows, n_classes).
    flatten : bool or None, default=None
        Pass flattened series. None flattens for scikit-learn estimators fitted on 2-D data
        (those with ``n_features_in_``) and passes 3-D series otherwise (aeon, sktime).
    """

    differentiable = False
    reads_layers = False
    propagates_rules = False
    device = torch.device("cpu")
    max_rows: int | None = None

    def __init__(self, model: Any, *, flatten: bool | None = None) -> None:
        if hasattr(model, "predict_proba"):
            self._predict: Callable[[np.ndarray], Any] = model.predict_proba
            self.name = type(model).__name__
        elif callable(model):
            self._predict = model
            self.name = getattr(model, "__name__", type(model).__name__)
        else:
            raise TypeError(
                f"A black-box model needs a predict_proba method or must be callable; got "
                f"{type(model).__name__}."
            )
        self.model = model
        self.flatten = hasattr(model, "n_features_in_") if flatten is None else bool(flatten)

    def __repr__(self) -> str:
        return f"BlackBoxModel({self.name})"

    @contextmanager
    def session(self) -> Iterator[None]:
        """Nothing to set up: a black box is only called."""
        yield

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Call the model on ``x`` (rows, c, t) and check its output."""
        # A copy: a model that writes into its input must not alter the user's series or the
        # rows chronolens perturbs.
        array = x.detach().cpu().numpy().astype(np.float32, copy=True)
        if self.flatten:
            array = array.reshape(len(array), -1)
        output = self._predict(array)
        if hasattr(output, "detach"):
            output = output.detach().cpu().numpy()
        output = np.asarray(output)
        if output.ndim == 1 and len(array) == output.shape[0]:
            raise ModelOutputError(
                f"{self.name} returned shape {output.shape}: one value per case, not class "
                "scores. Pass a model with predict_proba, or a callable returning (n_cases, "
                "n_classes) scores (for a single score use `lambda X: np.c_[-s(X), s(X)]`)."
            )
        if output.ndim != 2 or output.shape[0] != len(array):
            raise ModelOutputError(
                f"{self.name} returned shape {output.shape} for {len(array)} cases; expected "
                f"scores of shape ({len(array)}, n_classes)."
            )
        if not np.issubdtype(output.dtype, np.number) or not np.isfinite(output).all():
            raise ModelOutputError(
                f"{self.name} returned non-finite or non-numeric scores for some cases; check "
                "the model on this data (NaN inputs, unseen lengths)."
            )
        return torch.from_numpy(output.astype(np.float32))

    def expected_channels(self) -> int | None:
        """Input channels the model was fitted on, when it records them."""
        channels = getattr(self.model, "n_channels_", None)
        return int(channels) if isinstance(channels, (int, np.integer)) else None

    # ------------------------------------------------------------------ what a black box lacks
    def _refuse(self, what: str) -> NoReturn:
        raise CapabilityError(
            f"{self.name} is explained through its predictions only, so {what} cannot be read. "
            "Use a model-agnostic method (occlusion, feature_ablation, shapley, or tsr with "
            "base='occlusion'; see chronolens.methods(family='perturbation')), or pass the "
            "PyTorch / Keras model itself."
        )

    def gradient(self, x: torch.Tensor, target: Target, layer: str | None = None) -> Gradient:
        """Refused: a black box has no gradients."""
        self._refuse("gradients")

    def rule_gradient(
        self,
        x: torch.Tensor,
        target: Target,
        rules: Callable[[torch.nn.Module], AbstractContextManager[None]],
    ) -> Gradient:
        """Refused: a black box has no layers to propagate through."""
        self._refuse("gradients through its layers")

    def layer_gradient(
        self, x: torch.Tensor, target: Target, layer: str, *, head_only: bool = False
    ) -> LayerGradient:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def layer_output(self, x: torch.Tensor, layer: str) -> torch.Tensor:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def edited_scores(
        self, x: torch.Tensor, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]
    ) -> Any:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def module_outputs(self, x: torch.Tensor) -> list[tuple[str, Any]]:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def layers(self) -> list[str]:
        """A black box has no readable layers."""
        return []

    def resolve_layer(
        self, layer: object, n_channels: int, n_timepoints: int, rank: int = 3
    ) -> str:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def default_cam_layer(self, n_channels: int, n_timepoints: int, rank: int = 3) -> str:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def layer_centers(self, layer: str, n_channels: int, n_timepoints: int) -> np.ndarray | None:
        """Refused: a black box has no layers."""
        self._refuse("layer activations")

    def row_bytes(self, n_channels: int, n_timepoints: int) -> tuple[int, int] | None:
        """Unknown: batching uses a fixed number of rows."""
        return None

    def sequential_view(self) -> torch.nn.Sequential | None:
        """None: perturbed series are scored in full."""
        return None

    def weight_layers(self, x: torch.Tensor) -> list[str]:
        """Refused: a black box's weights cannot be read."""
        self._refuse("its weights")

    def randomized(self, layers: Sequence[str], seed: int, clone: Callable | None = None) -> Any:
        """Refused: a black box's weights cannot be re-drawn."""
        self._refuse("its weights")

    def cache_identity(self) -> tuple[object, Hashable] | None:
        """None: a black box has no structural facts to cache."""
        return None
