"""n2n-lite: Noise2Noise image denoising without clean data.

Data flows one way: ``io`` (images in/out) -> ``noise`` and ``data`` (pairs) -> ``models``
-> ``train`` (loop, losses) -> ``checkpoint`` -> ``denoise`` (tiled inference). ``cli`` and
``lite`` (the EE-559 ``Model``) are thin layers on top; ``scratch`` is a separate framework.
"""

__version__ = "0.1.0"
