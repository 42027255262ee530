"""Inference: tiled denoising of arrays (:class:`~n2n.inference.denoiser.Denoiser`), zero-shot
fitting, loading any model n2n-lite makes, numpy arrays, and whole files by format."""
