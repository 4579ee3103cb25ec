"""One ID: entity resolution of people, organisations and addresses into base registries.

Each department writes the same resident, firm or dwelling its own way. `link` maps the columns a
steward points at (`mapping`), normalises them with Chinese-aware features (`normalise`), links them
with Splink on DuckDB (`model`), gives every real-world entity a stable ID (`ids`) and a golden record
(`golden`), and keeps both in the lake as `registry.<kind>.*` tables (`store`). `run` does full and
incremental runs; `review` holds the steward's queue of uncertain pairs.
"""
