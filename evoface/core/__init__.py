"""Plumbing every layer may use: errors, run directories, checkpoints, random state, interrupts, plots.

It imports nothing else of the project.
"""
