"""What a new user meets first: a busy port named with its fix, plain demo progress in logs, and
third-party warnings kept off the screen (issue 13)."""

from __future__ import annotations

import logging
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from urbanbrain.cli.demo import capture_third_party_logs
from urbanbrain.cli.main import app
from urbanbrain.demo.progress import PlainDemoProgress

runner = CliRunner()


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    yield holder.getsockname()[1]
    holder.close()


@pytest.mark.parametrize("command", [["serve"], ["demo", "--scale", "tiny"]])
def test_a_busy_port_is_one_error_with_the_port_option_as_fix(busy_port: int, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--port", str(busy_port)])
    assert result.exit_code == 1
    assert f"port {busy_port} on 127.0.0.1 is already in use" in result.stderr
    assert f"--port {busy_port + 1}" in result.stderr
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def test_plain_progress_writes_one_line_per_step() -> None:
    lines: list[str] = []
    progress = PlainDemoProgress(write=lines.append)
    with progress:
        progress.phase("register", 2)
        progress.advance("register", 1, "hukou-registry")
        progress.advance("register", 1, "vehicle-registry")
        progress.phase("generate", None)
        progress.advance("generate", 1200, "residents")
    assert len(lines) == 5
    assert lines[0].endswith("register systems: 2 ...")
    assert "register 2/2  vehicle-registry" in lines[2]
    assert "generate 1,200  residents" in lines[4]
    assert all("\x1b" not in line for line in lines)  # no terminal escapes in a log


def test_third_party_warnings_go_to_the_log_file_not_the_screen(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    splink = logging.getLogger("splink")
    splink_propagate = splink.propagate
    log = tmp_path / "logs" / "demo.log"
    try:
        assert capture_third_party_logs(log) == log
        splink.warning("u values not fully trained")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library's deprecation note", UserWarning, stacklevel=1)
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        logging.captureWarnings(False)
        splink.propagate = splink_propagate
    text = log.read_text(encoding="utf-8")
    assert "splink: u values not fully trained" in text and "a library's deprecation note" in text
    captured = capsys.readouterr()
    assert "not fully trained" not in captured.err and "deprecation note" not in captured.err
