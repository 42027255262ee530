"""Optimizers with torch.optim's update rules: SGD (momentum, weight decay) and Adam."""

from __future__ import annotations

from torch import Tensor

from n2n.scratch.module import no_grad


class Optimizer:
    def __init__(self, params: list[tuple[Tensor, Tensor]], lr: float) -> None:
        self.params, self.lr = list(params), lr
        if lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")

    def zero_grad(self) -> None:
        for _, grad in self.params:
            grad.zero_()


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.buffers: list[Tensor | None] = [None] * len(self.params)

    @no_grad
    def step(self) -> None:
        for i, (p, grad) in enumerate(self.params):
            d = grad + self.weight_decay * p if self.weight_decay else grad
            if self.momentum:
                if self.buffers[i] is None:
                    self.buffers[i] = d.clone()
                else:
                    self.buffers[i].mul_(self.momentum).add_(d)
                d = self.buffers[i]
            p.sub_(self.lr * d)


class Adam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0
        self.m = [p.new_zeros(p.shape) for p, _ in self.params]
        self.v = [p.new_zeros(p.shape) for p, _ in self.params]

    @no_grad
    def step(self) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1**self.t, 1 - beta2**self.t
        for (p, grad), m, v in zip(self.params, self.m, self.v, strict=True):
            g = grad + self.weight_decay * p if self.weight_decay else grad
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v / correction2).sqrt().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / correction1)


class Plateau:
    """Halve (``factor``) the learning rate after ``patience`` epochs without a better metric
    (higher is better), as ``torch.optim.lr_scheduler.ReduceLROnPlateau(mode="max")``."""

    def __init__(self, optimizer: Optimizer, patience: int = 2, factor: float = 0.5) -> None:
        self.optimizer, self.patience, self.factor = optimizer, patience, factor
        self.best, self.bad_epochs = float("-inf"), 0

    def step(self, metric: float) -> None:
        if metric > self.best:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.optimizer.lr *= self.factor
            self.bad_epochs = 0
