"""What the gateway and the predictor share: one way to do settings, errors, 422s, logging,
middleware, OpenAPI documentation and serving with uvicorn."""
