"""zap's version, in a module of its own so that code recording it (task provenance, saved models) need
not import the whole package."""

__version__ = "0.1.0"
