"""A testing kit for chronolens and for projects that extend it.

- Tiny models with known answers (:func:`linear_model`, :func:`gap_model`) and a small
  convolutional network (:func:`tiny_conv_model`).
- :func:`model_state` / :func:`assert_model_unchanged`: everything an explanation must leave as it
  found it.
- :func:`check_method`: the conformance checks every registered method passes.
"""

from chronolens.testing.checks import assert_model_unchanged, check_method, model_state
from chronolens.testing.models import gap_model, linear_model, tiny_conv_model

__all__ = [
    "assert_model_unchanged",
    "check_method",
    "gap_model",
    "linear_model",
    "model_state",
    "tiny_conv_model",
]
