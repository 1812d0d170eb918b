"""Hyperparameter sweeps: the search space and the Optuna study rebuilt from our rows."""
