"""Plumbing every layer may use: errors, run directories, checkpoints, random state, interrupts, plots, oneDNN's
kernels and module wrapping.

It imports nothing else of the project.
"""
