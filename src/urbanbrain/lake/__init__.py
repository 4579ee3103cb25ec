"""The lakehouse: Iceberg catalog and tables, schema evolution, quarantine, and the DuckDB query engine.

It stores and reads data; it never knows who is asking (that is `govern`'s job, above it).
"""
