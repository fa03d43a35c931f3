"""geojtai: place-based serious youth violence analysis on H3 cells."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
