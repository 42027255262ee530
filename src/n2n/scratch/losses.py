"""Losses: ``forward(prediction, target)`` gives the mean; ``backward()`` its gradient."""

from __future__ import annotations

from torch import Tensor

from n2n.scratch.module import Module, ScratchError


class _Loss(Module):
    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        if prediction.shape != target.shape:
            raise ScratchError(f"{type(self).__name__}: prediction {tuple(prediction.shape)} "
                               f"and target {tuple(target.shape)} differ in shape")
        diff = prediction - target
        self.save_for_backward(diff)
        return self.value(diff)


class MSE(_Loss):
    """Mean squared error, as ``torch.nn.MSELoss()``."""

    def value(self, diff: Tensor) -> Tensor:
        return diff.square().mean()

    def backward(self, grad: Tensor | None = None) -> Tensor:
        (diff,) = self.saved()
        out = diff * (2.0 / diff.numel())
        return out if grad is None else out * grad


class L1(_Loss):
    """Mean absolute error, as ``torch.nn.L1Loss()`` (gradient 0 where equal)."""

    def value(self, diff: Tensor) -> Tensor:
        return diff.abs().mean()

    def backward(self, grad: Tensor | None = None) -> Tensor:
        (diff,) = self.saved()
        out = diff.sign() / diff.numel()
        return out if grad is None else out * grad
