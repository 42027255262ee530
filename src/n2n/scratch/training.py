"""Train the scratch Model with a per-epoch log: steps, seconds, learning rate, loss and, with
validation pairs, their PSNR; the loop behind ``n2n scratch-train``."""

from __future__ import annotations

import time
from collections.abc import Callable

from torch import Tensor

from n2n.scratch.model import Model


def train_with_log(model: Model, first: Tensor, second: Tensor, epochs: int,
                   val: tuple[Tensor, Tensor] | None = None,
                   report: Callable[[dict], None] = print) -> list[dict]:
    """``model.train`` on (first, second) for ``epochs``, one history row per epoch, each also
    passed to ``report``; ``val`` is (noisy, clean) validation pairs."""
    history, start = [], time.monotonic()

    def log(epoch: int, loss: float, lr: float, val_psnr: float | None) -> None:
        row = {"epoch": epoch, "steps": epoch * -(-len(first) // model.batch_size),
               "seconds": round(time.monotonic() - start, 1), "lr": lr, "train_loss": loss}
        if val_psnr is not None:
            row["val_psnr"] = val_psnr
        history.append(row)
        report(row)

    model.train(first, second, epochs, log=log, val=val)
    return history
