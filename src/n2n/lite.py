"""The EE-559 ``Model`` contract on the Lite U-Net (PyTorch).

``Model()`` takes no argument; ``load_pretrained_model()`` loads the bundled weights;
``train(train_input, train_target, num_epochs)`` trains on two N x C x H x W tensors of noisy
images in 0..255 (uint8 or float) with the course recipe; ``predict(x)`` maps 0..255 to 0..255,
same shape, any H x W. It uses the GPU when there is one, from CPU or GPU tensors alike, and
reads or writes no file apart from the bundled weights.
"""

from __future__ import annotations

import torch

from n2n.data.ee559 import TensorPairs, check_image_tensor
from n2n.errors import N2NError
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_bundled
from n2n.training.config import TrainConfig
from n2n.training.loop import fit, predict_batches

# The architecture of the bundled weights, so Model() and load_pretrained_model() agree.
DEFAULT_MODEL = ModelConfig(arch="lite", channels=3, width=24, depth=4, residual=True,
                            linear_output=True)


class Model:
    """Noise2Noise denoiser honouring the EE-559 project interface (PyTorch, Lite U-Net).

    Methods
    -------
    load_pretrained_model()
        The bundled photo weights.
    train(train_input, train_target, num_epochs)
        Two N x C x H x W tensors of noisy versions of the same images, values 0..255.
    predict(test_input)
        N x C x H x W, 0..255 in; float32 0..255 out, same shape and device, any H x W.

    Examples
    --------
    >>> model = Model()
    >>> model.load_pretrained_model()
    >>> model.predict(torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)).shape
    torch.Size([1, 3, 32, 32])
    """

    def __init__(self) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = build_model(DEFAULT_MODEL).to(self.device)
        self.pretrained = False

    def load_pretrained_model(self) -> None:
        """Load the bundled best weights (shipped inside the package)."""
        self.model = load_bundled().to(self.device)
        self.pretrained = True

    def train(self, train_input: torch.Tensor, train_target: torch.Tensor,
              num_epochs: int) -> None:
        """Train on pairs of noisy images (N x C x H x W, values 0..255) for ``num_epochs``.

        Starts from the current weights. After ``load_pretrained_model`` it fine-tunes: the
        learning rate is a tenth of the recipe's, since a full-size first Adam step moves every
        weight by about the learning rate and would undo the pretraining.
        """
        if not isinstance(num_epochs, int) or num_epochs < 1:
            raise N2NError(f"num_epochs must be a positive integer, got {num_epochs!r}")
        source = TensorPairs(train_input.cpu(), train_target.cpu())
        if source.channels != self.model.config.channels:
            raise N2NError(f"train_input has {source.channels} channels; the model expects "
                             f"{self.model.config.channels}")
        lr = TrainConfig.lr / 10 if self.pretrained else TrainConfig.lr
        config = TrainConfig(model=self.model.config, epochs=num_epochs, lr=lr)
        fit(self.model, source, config, normalize=not self.pretrained)

    def predict(self, test_input: torch.Tensor) -> torch.Tensor:
        """Denoise N x C x H x W values in 0..255; float32 0..255, same shape and device."""
        check_image_tensor(test_input, "test_input", self.model.config.channels)
        self.model.eval()
        out = predict_batches(self.model, test_input.detach().to(self.device))
        return out.to(test_input.device)
