"""Persistence: SQLAlchemy 2 models, engine/session setup and one repository module per aggregate."""
