"""Measuring images, never models: PSNR/SSIM, scoring a denoiser on pairs, noise diagnosis,
and the plots of each. Training and benchmarks both use it."""
