"""evoface: faces from a pixel genetic algorithm, a DCGAN and a VAE, compared honestly.

This package holds the GA and the run workflows; torch models live in ``neural`` and data in ``fitness_data``.
Importing it stays cheap: nothing heavy is imported here.
"""

__version__ = "0.1.0"
