"""Writes docs/images/before_after.png: noisy | denoised crops of scikit-image's astronaut photo
(gaussian noise, sigma 25, seed 0), denoised by the default. Run once by hand when the default
changes: python docs/make_before_after.py"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

import n2n


def main() -> None:
    clean = data.astronaut()
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    denoised = n2n.denoise_array(noisy, channel_axis=-1)
    crop = np.s_[30:286, 140:396]
    panels = [Image.fromarray(a[crop]) for a in (noisy, denoised)]
    out = Image.new("RGB", (2 * 256 + 8, 256 + 24), "white")
    draw = ImageDraw.Draw(out)
    labels = ("noisy (sigma 25)", "n2n denoise")
    for i, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        out.paste(panel, (i * 264, 24))
        draw.text((i * 264 + 4, 6), label, fill="black")
    target = Path(__file__).parent / "images" / "before_after.png"
    out.save(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
