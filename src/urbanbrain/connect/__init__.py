"""Connecting to department systems: the `Source` protocol, one module per connector, and the
service functions that test and discover registered systems. Nothing here writes to the lake."""
