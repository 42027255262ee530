"""n2n-lite: Noise2Noise image denoising without clean data.

Data flows one way: ``io`` (files) -> ``data`` (noise, pairs) -> ``evaluation`` (metrics, plots)
-> ``models`` -> ``training`` -> ``inference`` -> ``export``. ``cli``, ``bench`` and ``lite``
(the EE-559 ``Model``) sit on top; ``scratch`` is a separate, self-contained framework.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``n2n.denoise_array`` and ``n2n.denoise_dask``, imported on first use so that
    ``import n2n`` stays light."""
    if name == "denoise_array":
        from n2n.inference.arrays import denoise_array

        return denoise_array
    if name == "denoise_dask":
        from n2n.inference.dask_arrays import denoise_dask

        return denoise_dask
    raise AttributeError(f"module 'n2n' has no attribute '{name}'")
