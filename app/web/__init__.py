"""The web layer: routes, request and response models, middleware and the loaded models."""
