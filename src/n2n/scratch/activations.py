"""Element-wise activations: ReLU, LeakyReLU, Sigmoid."""

from __future__ import annotations

from torch import Tensor

from n2n.scratch.module import Module


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        positive = x > 0
        self.save_for_backward(positive)
        return x * positive

    def backward(self, grad: Tensor) -> Tensor:
        (positive,) = self.saved()
        return grad * positive


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        positive = x > 0
        self.save_for_backward(positive)
        return x.where(positive, x * self.negative_slope)

    def backward(self, grad: Tensor) -> Tensor:
        (positive,) = self.saved()
        return grad.where(positive, grad * self.negative_slope)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        out = x.neg().exp().add(1.0).reciprocal()
        self.save_for_backward(out)
        return out

    def backward(self, grad: Tensor) -> Tensor:
        (out,) = self.saved()
        return grad * out * (1.0 - out)
