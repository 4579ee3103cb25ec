"""Logging for long-running processes (`serve`, `worker`): text for people, JSON for collectors.

`URBANBRAIN_LOG_FORMAT=json` writes one JSON object a line to stderr: `ts` (UTC, ISO 8601), `level`,
`logger`, `msg`, `process`, `host`, plus `exc` with the traceback and any `extra={...}` fields a call
passed. Loki, Elasticsearch or CloudWatch ingest it as is, and a cluster's logs can be merged by host.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from datetime import UTC, datetime
from typing import Any

# attributes every LogRecord has: what is left after removing them is what `extra=` added
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; values JSON cannot hold are written as their `str`."""

    def __init__(self) -> None:
        super().__init__()
        self.host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "process": record.process,
            "host": self.host,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter(fmt: str | None = None) -> logging.Formatter:
    if fmt is None:
        from urbanbrain.core.settings import get_settings

        fmt = get_settings().log_format
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: int = logging.INFO, fmt: str | None = None) -> logging.Handler:
    """Send urbanbrain's (and uvicorn's) records to stderr in the configured format; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_urbanbrain", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler._urbanbrain = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def uvicorn_log_config(fmt: str | None = None) -> dict[str, Any]:
    """uvicorn's loggers through the same format (its default config would print its own text)."""
    name = "json" if (fmt or _configured()) == "json" else "text"
    factory = {"()": "urbanbrain.core.logs.JsonFormatter"} if name == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {name: factory},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": name, "stream": "ext://sys.stderr"}},
        "loggers": {n: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
                    for n in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def _configured() -> str:
    from urbanbrain.core.settings import get_settings

    return get_settings().log_format
