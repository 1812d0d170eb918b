"""Training: setup → fit → validate → checkpoint, and what each task optimises and reports."""
