"""The version of autorecipe."""

__version__ = "0.1.0"
