"""Data: built-in data sets, the normalised on-disk form, splits and batch loading."""
