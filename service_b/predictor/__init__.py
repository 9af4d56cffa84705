"""The predictor service: a versioned scikit-learn text classifier behind FastAPI."""
