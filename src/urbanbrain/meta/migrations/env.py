"""Alembic environment: runs on the connection `urbanbrain.meta.db` hands it, or on a URL for CLI use."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from urbanbrain.core.settings import get_settings
from urbanbrain.meta.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(get_settings().metadata_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
