"""Compiled forward + backward passes for Keras: ``tf.function`` on TensorFlow, ``jax.jit`` on JAX.

Eager ``GradientTape`` calls pay Python overhead per layer on every call; for the small batches
an explanation often runs, that overhead is most of the time. When the explained score is a
fixed linear read-out of the output (a class index per row, or each row's own top class), the
output gradient (the "seed") is known before the forward pass, so one compiled function can run
the forward pass, read the score and return the gradient. Its signature leaves the number of
rows free, so it is traced once per model (and per layer read), not once per batch size.

Scores that depend on the output in other ways (a callable target, a single-column binary head)
keep the eager path, which is exact for any target.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import torch

from chronolens.models._keras_bridge import to_backend, to_torch
from chronolens.targets import Target

#: ``(scores, output, gradient, activation or None)``, all torch tensors.
Compiled = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]


def linear_seed(target: Target) -> str | None:
    """How the seed is formed in the compiled function: "indices", "argmax", or None (eager)."""
    if target.fn is not None or target.binary is not None:
        return None
    if target.predicted:
        return "argmax"
    return "indices" if target.indices is not None else None


def _tensorflow(
    call: Callable[[Any], Any], shape: tuple[int, ...], argmax: bool, with_activation: bool
) -> Any:
    tf = sys.modules["tensorflow"]
    spec = [tf.TensorSpec([None, *shape], tf.float32), tf.TensorSpec([None], tf.int64)]

    @tf.function(input_signature=spec, reduce_retracing=True)
    def run(inputs: Any, classes: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            result = call(inputs)
            activation, output = result if with_activation else (None, result)
            if argmax:
                classes = tf.argmax(output, axis=1)
            seed = tf.one_hot(classes, tf.shape(output)[1], dtype=output.dtype)
            scores = tf.reduce_sum(output * seed, axis=1)
        source = inputs if activation is None else activation
        grad = tape.gradient(scores, source)
        return scores, output, grad, classes, activation if activation is not None else output

    return run


def _jax(call: Callable[[Any, Any], Any], argmax: bool) -> Any:
    jax = sys.modules["jax"]
    jnp = jax.numpy

    def run(states: Any, inputs: Any, classes: Any) -> Any:
        output, pullback = jax.vjp(lambda v: call(states, v), inputs)
        if argmax:
            classes = jnp.argmax(output, axis=1)
        seed = jax.nn.one_hot(classes, output.shape[1], dtype=output.dtype)
        (grad,) = pullback(seed)
        return (output * seed).sum(axis=1), output, grad, classes

    return jax.jit(run)


class CompiledPasses:
    """The compiled functions of one adapted Keras model, built on first use and kept.

    Parameters
    ----------
    backend : {"tensorflow", "jax"}
        The Keras backend.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._functions: dict[tuple[Any, ...], Any] = {}
        self._failed: set[tuple[Any, ...]] = set()
        #: The layer table per input shape ``(c, t)``: each readable layer's output shape.
        self.tables: dict[tuple[int, int], list[tuple[str, tuple[int, ...]]]] = {}

    def forward(self, model: Any, inputs: torch.Tensor) -> Any:
        """The model output (torch tensors), compiled; None to run eagerly.

        A model that cannot be compiled (Python side effects, data-dependent control flow) is
        remembered and runs eagerly from then on, where a genuine error shows as the user's own.
        """
        key = ("forward", tuple(inputs.shape[1:]))
        if key in self._failed:
            return None
        try:
            if key not in self._functions:
                self._functions[key] = self._compile_forward(model, tuple(inputs.shape[1:]))
            if self.backend == "tensorflow":
                out = self._functions[key](to_backend(inputs, "tensorflow"))
            else:
                out = self._functions[key](_variables(model), to_backend(inputs, "jax"))
        except Exception:
            self._failed.add(key)
            return None
        return to_torch(out, self.backend)

    def _compile_forward(self, model: Any, shape: tuple[int, ...]) -> Any:
        if self.backend == "tensorflow":
            tf = sys.modules["tensorflow"]
            spec = [tf.TensorSpec([None, *shape], tf.float32)]
            return tf.function(lambda v: model(v, training=False), input_signature=spec)
        jax = sys.modules["jax"]

        def call(states: Any, v: Any) -> Any:
            return model.stateless_call(states[0], states[1], v, training=False)[0]

        return jax.jit(call)

    def run(
        self,
        key: tuple[Any, ...],
        keras_model: Any,
        inputs: torch.Tensor,
        target: Target,
        *,
        head: Any = None,
        with_activation: bool = False,
    ) -> Compiled | None:
        """Scores, output, gradient and activation of one batch, or None to run eagerly.

        ``keras_model`` maps the model-layout input to the output. To take the gradient with
        respect to a layer's activation instead: on TensorFlow pass a model returning
        ``[activation, output]`` and ``with_activation=True``; on JAX pass the layer-to-output
        model and, as ``head``, the input-to-layer model.
        None is returned when the target's seed is not a fixed read-out, or when the compiled
        top class differs from the one chronolens would pick (a tie).
        """
        how = linear_seed(target)
        if how is None:
            return None
        argmax = how == "argmax"
        key = (*key, tuple(inputs.shape[1:]), argmax)
        if key in self._failed:
            return None
        rows = inputs.shape[0]
        classes = torch.zeros(rows, dtype=torch.int64) if argmax else target.indices
        assert classes is not None
        try:
            if self.backend == "tensorflow":
                result = self._run_tensorflow(key, keras_model, inputs, classes, with_activation)
            else:
                result = self._run_jax(key, keras_model, head, inputs, classes)
        except Exception:  # not compilable: eager from now on (it raises the user's own error)
            self._failed.add(key)
            return None
        scores, output, grad, chosen, activation = result
        if argmax and not torch.equal(chosen.long().cpu(), output.argmax(dim=1).cpu()):
            return None  # a tie the two frameworks may break differently: stay exact
        return scores.float(), output.float(), grad.float(), activation

    def _run_tensorflow(
        self,
        key: tuple[Any, ...],
        model: Any,
        inputs: torch.Tensor,
        classes: Any,
        with_activation: bool,
    ) -> tuple[Any, ...]:
        if key not in self._functions:
            call = lambda v: model(v, training=False)  # noqa: E731
            shape = tuple(inputs.shape[1:])
            self._functions[key] = _tensorflow(call, shape, key[-1], with_activation)
        run = self._functions[key]
        out = run(to_backend(inputs, "tensorflow"), to_backend(classes.long(), "tensorflow"))
        scores, output, grad, chosen, activation = (to_torch(v, "tensorflow") for v in out)
        return scores, output, grad, chosen, activation if with_activation else None

    def _run_jax(
        self, key: tuple[Any, ...], model: Any, head: Any, inputs: torch.Tensor, classes: Any
    ) -> tuple[Any, ...]:
        tail = model
        variables = _variables(tail)
        if key not in self._functions:

            def call(states: Any, v: Any) -> Any:
                trainable, non_trainable = states
                return tail.stateless_call(trainable, non_trainable, v, training=False)[0]

            self._functions[key] = _jax(call, key[-1])
        source = inputs if head is None else head(to_backend(inputs, "jax"), training=False)
        arguments = (variables, to_backend(inputs, "jax") if head is None else source)
        out = self._functions[key](*arguments, to_backend(classes.long(), "jax"))
        scores, output, grad, chosen = (to_torch(v, "jax") for v in out)
        activation = None if head is None else to_torch(source, "jax")
        return scores, output, grad, chosen, activation


def _variables(model: Any) -> tuple[list[Any], list[Any]]:
    """The current values of a Keras model's variables (read on every call: never stale)."""
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


_SHARED: weakref.WeakKeyDictionary[Any, tuple[Hashable, dict[Any, Any], CompiledPasses]] = (
    weakref.WeakKeyDictionary()
)
_SHARED_LOCK = threading.Lock()


def shared_passes(
    model: Any, structure: Hashable, backend: str
) -> tuple[dict[Any, Any], CompiledPasses]:
    """The sub-model cache and compiled passes of one Keras model, shared by its adapters.

    ``explain()`` adapts the model anew on every call; tracing a ``tf.function`` (or compiling
    with XLA) costs far more than one explanation of a few cases, so what depends only on the
    model is kept with the model (held weakly: it goes when the model goes) and rebuilt when
    its ``structure`` (every layer's name, class and geometry) changes.
    """
    with _SHARED_LOCK:
        entry = _SHARED.get(model)
        if entry is None or entry[0] != structure:
            entry = (structure, {}, CompiledPasses(backend))
            _SHARED[model] = entry
    return entry[1], entry[2]
