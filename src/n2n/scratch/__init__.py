"""n2n.scratch: a small deep-learning framework on bare torch tensors, and its EE-559 Model.

Rules (checked by tests/scratch/test_scratch_rules.py): only ``torch.empty``, ``torch.cat``,
``torch.arange``, ``torch.nn.functional.fold``/``unfold``, tensor methods and the standard
library; autograd off around all work; nothing from the rest of n2n.
"""

from n2n.scratch.activations import LeakyReLU, ReLU, Sigmoid
from n2n.scratch.layers import Conv2d, MaxPool2d, NearestUpsampling, TransposeConv2d, Upsampling
from n2n.scratch.losses import L1, MSE
from n2n.scratch.model import Model
from n2n.scratch.module import Module, ScratchError, Sequential
from n2n.scratch.networks import LiteUNet, course_net
from n2n.scratch.optim import SGD, Adam

__all__ = ["Adam", "Conv2d", "L1", "LeakyReLU", "LiteUNet", "MSE", "MaxPool2d", "Model",
           "Module", "NearestUpsampling", "ReLU", "SGD", "ScratchError", "Sequential",
           "Sigmoid", "TransposeConv2d", "Upsampling", "course_net"]
