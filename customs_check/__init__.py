"""customs-check: flag shipments whose declaration diverges from what was sold."""
__version__ = "0.1.0"
