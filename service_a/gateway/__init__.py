"""The gateway (service A): logs every input and forwards it to the predictor over HTTP."""

__version__ = "1.0.0"
