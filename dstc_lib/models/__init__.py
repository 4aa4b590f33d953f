"""Clustering estimators on plain ``(n_samples, n_channels, n_steps)`` arrays."""
