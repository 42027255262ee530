"""The base of the framework: ``Module`` (forward, backward, parameters) and ``Sequential``.

Every module owns its backward. A module called several times before one backward (weight
sharing, as in the Lite U-Net) keeps one cache per call on a stack and pops them in reverse,
which is exactly the order backward visits them; parameter gradients accumulate with ``+=``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from n2n.scratch.buffers import BufferPool


class ScratchError(ValueError):
    """Bad input to a module: the message names the module and the shapes involved."""


def no_grad(method):
    """Run ``method`` with autograd off and restore the caller's setting afterwards."""

    def wrapped(*args, **kwargs):
        previous = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        try:
            return method(*args, **kwargs)
        finally:
            torch.set_grad_enabled(previous)

    wrapped.__name__, wrapped.__doc__ = method.__name__, method.__doc__
    return wrapped


class Module:
    """Base class: subclasses set ``self.params`` names and implement forward/backward."""

    params: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        """Every subclass's forward and backward run with autograd off."""
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                setattr(cls, name, no_grad(cls.__dict__[name]))

    def __init__(self) -> None:
        self.training = True
        self._cache: list = []

    # ---- computation
    def forward(self, *inputs: Tensor) -> Tensor:
        raise NotImplementedError

    def backward(self, *grad_outputs: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, *inputs: Tensor) -> Tensor:
        return self.forward(*inputs)

    def save_for_backward(self, *values) -> None:
        """Remember what backward needs, only while training (inference keeps no cache)."""
        if self.training:
            self._cache.append(values)

    def saved(self) -> tuple:
        if not self._cache:
            raise ScratchError(f"{type(self).__name__}.backward called without a matching "
                               "forward in training mode")
        return self._cache.pop()

    # ---- structure
    def children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, list | tuple):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor, Tensor | None]]:
        """(name, parameter, gradient) of this module and its children, shared ones once."""
        seen: set[int] = set()
        for name, module in self._walk(prefix):
            if id(module) in seen:
                continue
            seen.add(id(module))
            for p in module.params:
                yield name + p, getattr(module, p), getattr(module, p + "_grad")

    def _walk(self, prefix: str) -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.children():
            yield from child._walk(f"{prefix}{name}.")

    def param(self) -> list[tuple[Tensor, Tensor]]:
        """(parameter, gradient) pairs, each shared parameter once."""
        return [(p, g) for _, p, g in self.named_tensors()]

    def zero_grad(self) -> None:
        for _, grad in self.param():
            grad.zero_()

    def train(self, mode: bool = True) -> Module:
        for _, module in self._walk(""):
            module.training = mode
            module._cache.clear()
        return self

    def eval(self) -> Module:
        return self.train(False)

    def state_dict(self) -> dict[str, Tensor]:
        return {name: p.clone() for name, p, _ in self.named_tensors()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        own = {name: p for name, p, _ in self.named_tensors()}
        if own.keys() != state.keys():
            missing, extra = own.keys() - state.keys(), state.keys() - own.keys()
            raise ScratchError(f"state dict mismatch: missing {sorted(missing)}, "
                               f"unexpected {sorted(extra)}")
        for name, p in own.items():
            if tuple(state[name].shape) != tuple(p.shape):
                raise ScratchError(f"{name}: expected shape {tuple(p.shape)}, got "
                                   f"{tuple(state[name].shape)}")
            p.copy_(state[name])

    def share_buffers(self, pool: BufferPool | None = None) -> BufferPool:
        """Make every layer below this module take its work tensors from one pool."""
        pool = pool if pool is not None else BufferPool()
        for _, module in self._walk(""):
            if isinstance(getattr(module, "pool", None), BufferPool):
                module.pool = pool
        return pool

    def to(self, device) -> Module:
        for _, module in self._walk(""):
            for p in module.params:
                setattr(module, p, getattr(module, p).to(device))
                setattr(module, p + "_grad", getattr(module, p + "_grad").to(device))
        return self


class Sequential(Module):
    """Modules applied one after the other; backward runs them in reverse."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.modules = list(modules)
        self.share_buffers()

    def forward(self, x: Tensor) -> Tensor:
        for module in self.modules:
            x = module.forward(x)
        return x

    def backward(self, grad: Tensor) -> Tensor:
        for module in reversed(self.modules):
            grad = module.backward(grad)
        return grad


def check_input(module: str, x: Tensor, channels: int | None = None) -> None:
    """Raise a clear error unless ``x`` is (N, C, H, W) with the expected channel count."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ScratchError(f"{module}: expected input of shape (N, C, H, W), got {shape}")
    if channels is not None and x.shape[1] != channels:
        raise ScratchError(f"{module}: expected {channels} input channels, got shape "
                           f"{tuple(x.shape)}")
