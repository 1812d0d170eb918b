"""Celery workers: claim a run by id, train it, report to the database. Only this package imports Celery."""
