"""The HTTP gateway (FastAPI). Only this package imports FastAPI."""
