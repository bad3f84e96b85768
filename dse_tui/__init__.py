"""DSE — Digital Synthetic Evolution: tested Python code from behaviour specs."""

__version__ = "0.1.0"
