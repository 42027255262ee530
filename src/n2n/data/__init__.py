"""Training data: noise models, pair sources (synthetic, folders, EE-559 tensors, real
captures in bursts), augmentation, and the typed :class:`~n2n.data.config.DataConfig` that
builds them."""
