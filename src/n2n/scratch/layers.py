"""Convolutions, upsampling and pooling, with torch's names, shapes, defaults and init.

Convolution is im2col + one matrix product. im2col is one copy of an ``as_strided`` view of the
zero-padded input into pooled memory (see :mod:`n2n.scratch.buffers`). Only the padded input is
kept for backward: the weight gradient is the output gradient times its columns, built again;
the input gradient, for stride 1, is itself a convolution (of the padded output gradient with
the flipped, transposed kernel), for other strides the transposed product + ``fold`` (fold is
unfold's adjoint). Large batches go through in chunks, so the columns never hold more than
:data:`COLUMNS_BUDGET` floats. The transposed convolution is the same steps swapped.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn.functional import fold

from n2n.scratch.buffers import BufferPool
from n2n.scratch.module import Module, ScratchError, Sequential, check_input


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _uniform(shape: tuple[int, ...], bound: float) -> Tensor:
    return torch.empty(shape).uniform_(-bound, bound)


COLUMNS_BUDGET = 1 << 24  # floats of im2col columns held at once (64 MB in float32); a larger
# batch is convolved in chunks (Lite U-Net, batch 100: peak memory 1.56x -> 1.15x PyTorch's)


def _pad(x: Tensor, ph: int, pw: int, pool: BufferPool, value: float = 0.0) -> Tensor:
    """(N, C, H, W) with ``ph`` rows above and below and ``pw`` columns left and right, in a
    canvas from ``pool`` (give it back with ``value`` when done)."""
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    out = pool.take((n, c, h + 2 * ph, w + 2 * pw), x, fill=value)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _im2col(x: Tensor, kernel: tuple[int, int], dilation: tuple[int, int],
            stride: tuple[int, int], out_size: tuple[int, int], pool: BufferPool) -> Tensor:
    """``unfold`` of an already padded (N, C, H, W): (N, C*kh*kw, L), one copy of a strided
    view whose axes (N, C, kh, kw, out_h, out_w) step through the input, into a pool tensor."""
    n, c = x.shape[:2]
    sn, sc, sh, sw = x.stride()
    shape = (n, c, *kernel, *out_size)
    view = x.as_strided(shape, (sn, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh,
                                stride[1] * sw))
    cols = pool.take(shape, x).copy_(view)
    return cols.view(n, c * kernel[0] * kernel[1], out_size[0] * out_size[1])


def _batch_chunks(n: int, per_image: int) -> list[tuple[int, int]]:
    """Slices of a batch of ``n`` whose columns (``per_image`` floats each) fit the budget."""
    step = max(1, COLUMNS_BUDGET // max(per_image, 1))
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _convolve(padded: Tensor, weight: Tensor, kernel: tuple[int, int],
              dilation: tuple[int, int], stride: tuple[int, int], out_size: tuple[int, int],
              pool: BufferPool) -> Tensor:
    """``weight`` (O, C*kh*kw) times the columns of ``padded`` (N, C, H, W): (N, O, L), the
    batch in chunks whose columns fit :data:`COLUMNS_BUDGET`."""
    n, c = padded.shape[:2]
    length = out_size[0] * out_size[1]
    out = padded.new_empty((n, weight.shape[0], length))
    for lo, hi in _batch_chunks(n, c * kernel[0] * kernel[1] * length):
        cols = _im2col(padded[lo:hi], kernel, dilation, stride, out_size, pool)
        out[lo:hi].baddbmm_(weight.expand(hi - lo, *weight.shape), cols, beta=0)
        pool.give(cols)
    return out


def _release(pool: BufferPool, padded: Tensor, source: Tensor, value: float = 0.0) -> None:
    """Give a padded canvas back, unless no padding was needed (then it is the input)."""
    if padded is not source:
        pool.give(padded, fill=value)


class _ConvBase(Module):
    params = ("weight", "bias")

    def __init__(self, weight_shape, fan_in: int, kernel_size, stride, padding, dilation,
                 bias: bool) -> None:
        super().__init__()
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.pool = BufferPool()
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1 \
                or min(self.padding) < 0:
            raise ScratchError(f"{type(self).__name__}: kernel_size, stride and dilation must "
                               "be >= 1 and padding >= 0")
        # torch's default: kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), +...)
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = _uniform(weight_shape, bound)
        self.weight_grad = torch.empty(weight_shape).zero_()
        self.has_bias = bias
        out_channels = weight_shape[0] if isinstance(self, Conv2d) else weight_shape[1]
        self.bias = _uniform((out_channels,), bound) if bias else torch.empty(0)
        self.bias_grad = torch.empty(self.bias.shape).zero_()
        if not bias:
            self.params = ("weight",)


class Conv2d(_ConvBase):
    """2-D convolution; ``forward(x)`` equals ``F.conv2d(x, weight, bias, stride, padding,
    dilation)``. Weight (out, in, kh, kw), bias (out,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True) -> None:
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        super().__init__((out_channels, in_channels, kh, kw), in_channels * kh * kw,
                         kernel_size, stride, padding, dilation, bias)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (ph, pw), (dh, dw) = self.padding, self.dilation
        return ((height + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1)

    def _fold_args(self) -> dict:
        return {"kernel_size": self.kernel_size, "dilation": self.dilation,
                "padding": self.padding, "stride": self.stride}

    def forward(self, x: Tensor) -> Tensor:
        check_input("Conv2d", x, self.in_channels)
        n, _, height, width = x.shape
        out_h, out_w = self.output_size(height, width)
        if out_h < 1 or out_w < 1:
            raise ScratchError(
                f"Conv2d: kernel {self.kernel_size} (dilation {self.dilation}) is larger than "
                f"the padded input {height + 2 * self.padding[0]}x{width + 2 * self.padding[1]} "
                f"(input shape {tuple(x.shape)})")
        padded = _pad(x, *self.padding, self.pool)
        out = _convolve(padded, self.weight.view(self.out_channels, -1), self.kernel_size,
                        self.dilation, self.stride, (out_h, out_w), self.pool)  # (N, out, L)
        if self.has_bias:
            out += self.bias.view(1, -1, 1)
        if self.training:  # the padded input alone, not its 9x larger columns: they are
            self.save_for_backward(padded, (height, width), padded is x)  # built again backward
        else:
            _release(self.pool, padded, x)
        return out.view(n, self.out_channels, out_h, out_w)

    def backward(self, grad: Tensor) -> Tensor:
        padded, size, unpadded = self.saved()
        n, out_size = grad.shape[0], tuple(grad.shape[2:])
        grad = grad.reshape(n, self.out_channels, -1)  # (N, out, L)
        weight_grad = self.weight_grad.view(self.out_channels, -1)
        per_image = padded.shape[1] * self.kernel_size[0] * self.kernel_size[1] * grad.shape[2]
        for lo, hi in _batch_chunks(n, per_image):  # the columns again, chunk by chunk
            cols = _im2col(padded[lo:hi], self.kernel_size, self.dilation, self.stride,
                           out_size, self.pool)
            weight_grad += grad[lo:hi].matmul(cols.transpose(1, 2)).sum(0)
            self.pool.give(cols)
        if not unpadded:
            self.pool.give(padded, fill=0.0)
        if self.has_bias:
            self.bias_grad += grad.sum((0, 2))
        if self.stride == (1, 1) and self._flip_padding() is not None:
            return self._input_grad_by_convolution(grad, size)
        grad_cols = self.weight.view(self.out_channels, -1).t().matmul(grad)  # (N, C*k*k, L)
        return fold(grad_cols, output_size=size, **self._fold_args())

    def _flip_padding(self) -> tuple[int, int] | None:
        """Padding that makes a stride-1 convolution's input gradient a convolution with the
        flipped kernel: dilation * (kernel - 1) - padding, or None where that is negative."""
        pads = tuple(d * (k - 1) - p for k, d, p in zip(self.kernel_size, self.dilation,
                                                        self.padding, strict=True))
        return pads if min(pads) >= 0 else None

    def _input_grad_by_convolution(self, grad: Tensor, size: tuple[int, int]) -> Tensor:
        """Stride 1: dL/dx = the padded output gradient convolved with the weight flipped in
        space and with in/out swapped (no fold, and the fast im2col)."""
        n, out_h, out_w = grad.shape[0], *self.output_size(*size)
        grad = grad.view(n, self.out_channels, out_h, out_w)
        padded = _pad(grad, *self._flip_padding(), self.pool)
        flipped = self.weight.flip(2, 3).transpose(0, 1).reshape(self.in_channels, -1)
        grad_x = _convolve(padded, flipped, self.kernel_size, self.dilation, (1, 1),
                           tuple(size), self.pool)
        _release(self.pool, padded, grad)
        return grad_x.view(n, self.in_channels, *size)


class TransposeConv2d(_ConvBase):
    """Transposed convolution; ``forward(x)`` equals ``F.conv_transpose2d(x, weight, bias,
    stride, padding, output_padding, dilation=dilation)``. Weight (in, out, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, bias: bool = True, dilation=1) -> None:
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        super().__init__((in_channels, out_channels, kh, kw), out_channels * kh * kw,
                         kernel_size, stride, padding, dilation, bias)
        self.output_padding = _pair(output_padding)
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride,
                                                   self.dilation, strict=True)):
            raise ScratchError("TransposeConv2d: output_padding must be smaller than stride "
                               "or dilation")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (ph, pw), (dh, dw) = self.padding, self.dilation
        oph, opw = self.output_padding
        return ((height - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1,
                (width - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1)

    def _canvas_size(self, height: int, width: int) -> tuple[int, int]:
        """Size before cropping ``padding`` and adding ``output_padding``: every kernel tap."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        return (height - 1) * sh + dh * (kh - 1) + 1, (width - 1) * sw + dw * (kw - 1) + 1

    def _canvas_args(self) -> dict:
        return {"kernel_size": self.kernel_size, "dilation": self.dilation,
                "stride": self.stride}

    def forward(self, x: Tensor) -> Tensor:
        check_input("TransposeConv2d", x, self.in_channels)
        n, _, height, width = x.shape
        out_h, out_w = self.output_size(height, width)
        if out_h < 1 or out_w < 1:
            raise ScratchError(f"TransposeConv2d: output size {(out_h, out_w)} for input shape "
                               f"{tuple(x.shape)} is empty (padding too large)")
        flat = x.reshape(n, self.in_channels, -1)  # (N, in, H*W)
        cols = self.weight.view(self.in_channels, -1).t().matmul(flat)  # (N, out*k*k, H*W)
        canvas = fold(cols, output_size=self._canvas_size(height, width), **self._canvas_args())
        ph, pw = self.padding
        out = canvas[:, :, ph:ph + out_h, pw:pw + out_w]
        if out.shape[2] < out_h:  # output_padding beyond every kernel tap: zeros
            extra = out.new_zeros((n, self.out_channels, out_h - out.shape[2], out.shape[3]))
            out = torch.cat([out, extra], 2)
        if out.shape[3] < out_w:
            extra = out.new_zeros((n, self.out_channels, out_h, out_w - out.shape[3]))
            out = torch.cat([out, extra], 3)
        if self.has_bias:
            out = out + self.bias.view(1, -1, 1, 1)
        self.save_for_backward(flat, (height, width))
        return out

    def backward(self, grad: Tensor) -> Tensor:
        flat, (height, width) = self.saved()
        n = grad.shape[0]
        if self.has_bias:
            self.bias_grad += grad.sum((0, 2, 3))
        canvas_h, canvas_w = self._canvas_size(height, width)
        ph, pw = self.padding
        rows, cols = min(grad.shape[2], canvas_h - ph), min(grad.shape[3], canvas_w - pw)
        canvas = grad.new_zeros((n, self.out_channels, canvas_h, canvas_w))
        canvas[:, :, ph:ph + rows, pw:pw + cols] = grad[:, :, :rows, :cols]
        grad_cols = _im2col(canvas, self.kernel_size, self.dilation, self.stride,
                            (height, width), self.pool)  # (N, out*k*k, H*W)
        self.weight_grad += flat.matmul(grad_cols.transpose(1, 2)).sum(0).view_as(self.weight)
        grad_x = self.weight.view(self.in_channels, -1).matmul(grad_cols)
        self.pool.give(grad_cols)
        return grad_x.view(n, self.in_channels, height, width)


class NearestUpsampling(Module):
    """Repeat each pixel ``scale_factor`` times along H and W (integer factors)."""

    def __init__(self, scale_factor: int = 2) -> None:
        super().__init__()
        if int(scale_factor) != scale_factor or scale_factor < 1:
            raise ScratchError(f"NearestUpsampling: scale_factor must be a positive integer, "
                               f"got {scale_factor}")
        self.scale_factor = int(scale_factor)

    def forward(self, x: Tensor) -> Tensor:
        check_input("NearestUpsampling", x)
        n, c, h, w = x.shape
        s = self.scale_factor  # one copy through a broadcast view (3x faster than repeats)
        return x.view(n, c, h, 1, w, 1).expand(n, c, h, s, w, s).reshape(n, c, h * s, w * s)

    def backward(self, grad: Tensor) -> Tensor:
        n, c, h, w = grad.shape
        s = self.scale_factor
        return grad.reshape(n, c, h // s, s, w // s, s).sum((3, 5))


class Upsampling(Sequential):
    """Nearest-neighbour upsampling followed by a convolution (size-preserving by default)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, scale_factor: int = 2,
                 padding=None, stride=1, dilation=1, bias: bool = True) -> None:
        if padding is None:
            padding = tuple(d * (k - 1) // 2 for k, d in zip(_pair(kernel_size),
                                                             _pair(dilation), strict=True))
        super().__init__(NearestUpsampling(scale_factor),
                         Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                dilation, bias))

    @property
    def conv(self) -> Conv2d:
        return self.modules[1]


class MaxPool2d(Module):
    """Max pooling with torch's defaults (stride = kernel_size, no padding, floor mode)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.pool = BufferPool()

    def forward(self, x: Tensor) -> Tensor:
        check_input("MaxPool2d", x)
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        (ph, pw), (dh, dw), (sh, sw) = self.padding, self.dilation, self.stride
        out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if out_h < 1 or out_w < 1:
            raise ScratchError(f"MaxPool2d: kernel {self.kernel_size} is larger than the "
                               f"input {tuple(x.shape)}")
        flat = x.reshape(n * c, 1, h, w)
        padded = _pad(flat, ph, pw, self.pool, float("-inf"))  # padding never wins the max
        cols = _im2col(padded, self.kernel_size, self.dilation, self.stride,
                       (out_h, out_w), self.pool)  # (N*C, kh*kw, L)
        _release(self.pool, padded, flat, float("-inf"))
        values, index = cols.max(dim=1, keepdim=True)
        self.pool.give(cols)
        self.save_for_backward(index, cols.shape, (h, w))
        return values.view(n, c, out_h, out_w)

    def backward(self, grad: Tensor) -> Tensor:
        index, cols_shape, (h, w) = self.saved()
        n, c = grad.shape[:2]
        grad_cols = grad.new_zeros(cols_shape).scatter_(1, index, grad.reshape(n * c, 1, -1))
        ph, pw = self.padding
        out = fold(grad_cols, output_size=(h + 2 * ph, w + 2 * pw),
                   kernel_size=self.kernel_size, dilation=self.dilation, stride=self.stride)
        return out[:, :, ph:ph + h, pw:pw + w].reshape(n, c, h, w)
