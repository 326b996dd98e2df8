"""Training: the Trainer (truncated BPTT), its budget, its resumable snapshot, jobs that build it, data parallelism."""
