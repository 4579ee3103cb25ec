"""Runs: source -> lake. Incremental cursors, idempotent commits, locks, retries and the scheduler."""
