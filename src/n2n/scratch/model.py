"""The EE-559 ``Model`` on the scratch framework: same contract as ``n2n.lite.Model``.

It runs where its input lives (CPU or GPU tensors alike), normalises per channel, pads any
H x W to the network's multiple by edge replication, and trains with Adam, MSE, random
flips/rotations and a halve-on-plateau learning rate - all written on bare tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from n2n.scratch.losses import MSE
from n2n.scratch.module import ScratchError, no_grad
from n2n.scratch.networks import LiteUNet, course_net
from n2n.scratch.optim import Adam, Plateau
from n2n.scratch.serialize import load_weights, save_weights

PRETRAINED = Path(__file__).parent / "pretrained.n2nw"


def check_images(x: Tensor, name: str, channels: int) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ScratchError(f"{name}: expected shape N x {channels} x H x W, got {shape}")
    if x.is_floating_point() and not x.isfinite().all():
        raise ScratchError(f"{name}: contains NaN or infinite values")
    if x.numel() and (x.min() < 0 or x.max() > 255):
        raise ScratchError(f"{name}: values must lie in 0..255")


def pad_edges(x: Tensor, multiple: int) -> Tensor:
    """Pad (N, C, H, W) at the bottom/right to multiples of ``multiple`` by repeating edges."""
    pad_h, pad_w = -x.shape[2] % multiple, -x.shape[3] % multiple
    if pad_h:
        x = torch.cat([x, x[:, :, -1:].expand(-1, -1, pad_h, -1)], 2)
    if pad_w:
        x = torch.cat([x, x[:, :, :, -1:].expand(-1, -1, -1, pad_w)], 3)
    return x


def random_dihedrals(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """One random flip/rotation per image (of 8), the same for an image and its target, as
    ``n2n train`` augments (square images): each bit of a drawn code picks one of horizontal
    flip, vertical flip, transpose."""
    codes = torch.empty(len(x), device=x.device).uniform_(0, 8).floor()
    for bit, flip in ((1, lambda t: t.flip(3)), (2, lambda t: t.flip(2)),
                      (4, lambda t: t.transpose(2, 3))):
        chosen = ((codes / bit).floor() % 2 == 1).view(-1, 1, 1, 1)
        x, y = flip(x).where(chosen, x), flip(y).where(chosen, y)
    return x, y


def psnr(output: Tensor, clean: Tensor) -> float:
    """Mean PSNR (dB) over images of (N, C, H, W) 0..255 tensors."""
    mse = (output.float() - clean.float()).pow(2).flatten(1).mean(1).clamp(min=1e-10)
    return float((10 * (255.0**2 / mse).log10()).mean())


class Model:
    """Noise2Noise on the scratch framework (no autograd, no torch.nn), EE-559 interface.

    Methods
    -------
    load_pretrained_model()
        The bundled scratch weights (plain data, no pickle).
    train(train_input, train_target, num_epochs)
        Two N x 3 x H x W tensors of noisy versions of the same images, values 0..255.
    predict(test_input)
        N x 3 x H x W, 0..255 in; float32 0..255 out, same shape and device, any H x W.

    Examples
    --------
    >>> model = Model()
    >>> model.load_pretrained_model()
    >>> model.predict(torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)).shape
    torch.Size([1, 3, 32, 32])
    """

    NETWORKS = ("unet", "course")

    def __init__(self, network: str = "unet") -> None:
        """``network``: "unet" (default, the Lite U-Net) or "course" (the course's required
        net, sigmoid output, which therefore works on x / 255 rather than per-channel stats)."""
        if network not in self.NETWORKS:
            raise ScratchError(f"network '{network}': choose one of {self.NETWORKS}")
        self.network = network
        if network == "unet":
            self.net = LiteUNet(channels=3, width=24, depth=4, residual=True)
            self.mean, self.std = torch.empty(3).fill_(127.5), torch.empty(3).fill_(64.0)
        else:
            self.net = course_net(channels=3, width=48)
            self.mean, self.std = torch.empty(3).fill_(0.0), torch.empty(3).fill_(255.0)
        self.multiple = getattr(self.net, "multiple", 4)
        self.lr, self.batch_size = 6e-3, 100
        self.device = self.mean.device
        self.pretrained = False

    def _to(self, device) -> None:
        if device != self.device:
            self.net.to(device)
            self.mean, self.std, self.device = self.mean.to(device), self.std.to(device), device

    def load_pretrained_model(self, path: str | Path = PRETRAINED) -> None:
        """Load the bundled weights (plain float32 data, no pickle)."""
        tensors, meta = load_weights(path, self.mean)
        if meta.get("network", "unet") != self.network:
            raise ScratchError(f"{path}: weights are for network '{meta.get('network')}', "
                               f"this model is '{self.network}'")
        self.mean, self.std = tensors.pop("mean"), tensors.pop("std")
        self.net.load_state_dict(tensors)
        self.device = self.mean.device
        self.pretrained = True

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        meta = {**(meta or {}), "network": self.network}
        save_weights(path, {"mean": self.mean, "std": self.std, **self.net.state_dict()}, meta)

    def _normalize(self, x: Tensor) -> Tensor:
        return (x.float() - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    @no_grad
    def train(self, train_input: Tensor, train_target: Tensor, num_epochs: int,
              log=None, val: tuple[Tensor, Tensor] | None = None) -> list[float]:
        """Train on pairs of noisy images (N x 3 x H x W, 0..255); returns per-epoch losses.

        After ``load_pretrained_model`` it fine-tunes at a tenth of the learning rate. As in
        ``n2n train``: one random flip/rotation per image, and the learning rate halves after
        two epochs without a better validation PSNR (with ``val`` = (noisy, clean) pairs) or
        else training loss. ``log(epoch, loss, lr, val_psnr)``, if given, is called after each
        epoch (val_psnr None without ``val``). Randomness comes from torch's global generator:
        seed it with ``torch.manual_seed`` for repeatable runs.
        """
        check_images(train_input, "train_input", 3)
        check_images(train_target, "train_target", 3)
        if train_input.shape != train_target.shape:
            raise ScratchError(f"train_input {tuple(train_input.shape)} and train_target "
                               f"{tuple(train_target.shape)} must have the same shape")
        if not isinstance(num_epochs, int) or num_epochs < 1:
            raise ScratchError(f"num_epochs must be a positive integer, got {num_epochs!r}")
        self._to(train_input.device)
        inputs = train_input.float()
        if self.network == "unet" and not self.pretrained:  # keep trained weights' statistics
            self.mean = inputs.mean((0, 2, 3))
            self.std = inputs.std((0, 2, 3)).clamp(min=1.0)
        net, loss_fn = self.net.train(), MSE()
        optimizer = Adam(net.param(), lr=self.lr / 10 if self.pretrained else self.lr)
        plateau, history = Plateau(optimizer), []
        n = len(inputs)
        square = inputs.shape[2] == inputs.shape[3]
        for epoch in range(num_epochs):
            order = torch.empty(n).uniform_().argsort().to(inputs.device)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                x = pad_edges(self._normalize(train_input[idx]), self.multiple)
                y = pad_edges(self._normalize(train_target[idx]), self.multiple)
                if square:
                    x, y = random_dihedrals(x, y)
                optimizer.zero_grad()
                loss = loss_fn.forward(net.forward(x), y)
                net.backward(loss_fn.backward())
                optimizer.step()
                total += float(loss) * len(idx)
            history.append(total / n)
            val_psnr = None
            if val is not None:
                val_psnr = psnr(self.predict(val[0]), val[1])
                net.train()
            if log is not None:
                log(epoch + 1, history[-1], optimizer.lr, val_psnr)
            plateau.step(val_psnr if val_psnr is not None else -history[-1])
        net.eval()
        return history

    @no_grad
    def predict(self, test_input: Tensor) -> Tensor:
        """Denoise N x 3 x H x W values in 0..255: float 0..255, same shape and device."""
        check_images(test_input, "test_input", 3)
        self._to(test_input.device)
        net = self.net.eval()
        height, width = test_input.shape[2:]
        outs = []
        for start in range(0, len(test_input), self.batch_size):
            x = pad_edges(self._normalize(test_input[start:start + self.batch_size]),
                          self.multiple)
            out = net.forward(x)[:, :, :height, :width]
            outs.append(out * self.std.view(1, -1, 1, 1) + self.mean.view(1, -1, 1, 1))
        return torch.cat(outs).clamp(0, 255)
