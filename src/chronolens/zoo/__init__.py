"""Reference time-series classifiers (PyTorch) and a small training loop.

- :func:`conv1d_classifier`: the common hand-built 1-D CNN, two blocks of Conv1d (kernel 9,
  "valid") -> BatchNorm -> ReLU -> MaxPool(5), then Flatten -> Linear.
- :func:`fcn`: the fully convolutional network of Wang et al. (2017), global average pooling +
  linear head: the classic CAM network.
- :func:`resnet`: the 1-D ResNet of Wang et al. (2017).
- :func:`dcnn`, :func:`dresnet`: the dimension-wise networks of Boniol et al. (2022), which read
  the "cube" of cyclically shifted channels (:class:`DimensionCube`) and are explained channel by
  channel with the ``dcam`` method. They take the ordinary ``(n, channels, time)`` series.
- :func:`attention_rnn`: a (bidirectional) LSTM or GRU with additive attention over time, whose
  weights ``explain(method="attention")`` reads.
- :func:`fit`, :func:`accuracy`: train a classifier with Adam and cross-entropy, and score it.

Each builder takes a ``seed`` and initialises its weights from it without touching torch's global
random state.

The code lives in :mod:`chronolens.zoo.architectures` (the 1-D networks),
:mod:`chronolens.zoo.dimensionwise` (the dimension-wise networks) and
:mod:`chronolens.zoo.training` (the training loop); import the names from here.
"""

from chronolens.zoo.architectures import ResidualBlock, ResNet, conv1d_classifier, fcn, resnet
from chronolens.zoo.attention import AdditiveAttention, AttentionRNN, attention_rnn
from chronolens.zoo.dimensionwise import DCNN, DimensionCube, DResNet, dcnn, dresnet
from chronolens.zoo.mil import MIL, MILHead, mil, mil_channels, replicate_padding
from chronolens.zoo.training import accuracy, fit

__all__ = [
    "DCNN",
    "MIL",
    "AdditiveAttention",
    "AttentionRNN",
    "DResNet",
    "DimensionCube",
    "MILHead",
    "ResNet",
    "ResidualBlock",
    "accuracy",
    "attention_rnn",
    "conv1d_classifier",
    "dcnn",
    "dresnet",
    "fcn",
    "fit",
    "mil",
    "mil_channels",
    "replicate_padding",
    "resnet",
]
