"""Intake channels: every way a report arrives becomes a `Report` through one protocol, then one pipeline."""
