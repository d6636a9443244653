"""HTTP handlers: each module parses its requests and answers them, nothing else."""
