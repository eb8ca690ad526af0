"""bcbench: honest, seed-swept benchmarks of image classifiers (accuracy against cost)."""

__version__ = "0.1.0"
