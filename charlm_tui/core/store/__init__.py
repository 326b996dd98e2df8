"""The run store: a run folder and its files, checkpoints, locks, listing and comparing runs."""
