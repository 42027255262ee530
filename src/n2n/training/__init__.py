"""Training: the configuration, the one loop for every mode, objectives and losses, speed-ups
that keep results, and torchrun plumbing."""
