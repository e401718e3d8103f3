"""assay: declarative test orchestration with history and decisions."""

__version__ = "0.1.0"
