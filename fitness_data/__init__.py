"""Datasets, noising and loaders for the faceness regressor and the generative baselines."""
