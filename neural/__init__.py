"""Torch models, training loops and metrics."""
