"""Brokers that refuse the password (a private Mosquitto and nats-server with users, on free ports)
and a topic with no messages: each is a clear, recorded reason, and no feed holds up another."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from urbanbrain.core.errors import AuthenticationError
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.stream import service
from urbanbrain.stream.feeds.base import open_feed
from urbanbrain.stream.runner import StreamProcess

from .helpers import ensure_dept, unique

pytestmark = pytest.mark.skipif(not (shutil.which("mosquitto") and shutil.which("mosquitto_passwd")
                                     and shutil.which("nats-server")), reason="needs mosquitto and nats-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not listen on {port}")


@pytest.fixture
def locked_mqtt(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(tmp_path / "pw"), "city", "right-password"], check=True)
    (tmp_path / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                                     f"password_file {tmp_path / 'pw'}\nuser root\npersistence false\n")
    proc = _serve(["mosquitto", "-c", str(tmp_path / "m.conf")], port)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def locked_nats() -> Iterator[int]:
    port = _free_port()
    proc = _serve(["nats-server", "-a", "127.0.0.1", "-p", str(port), "--user", "city", "--pass", "right-password"],
                  port)
    yield port
    proc.terminate()
    proc.wait(10)


def test_brokers_refusing_the_password_are_a_clear_error(locked_mqtt: int, locked_nats: int) -> None:
    mqtt = open_feed("mqtt", unique("pw"), {"url": f"mqtt://127.0.0.1:{locked_mqtt}", "topic": "x/#",
                                            "username": "city", "password": "wrong"})
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        mqtt.test()
    nats = open_feed("nats", unique("pw"), {"url": f"nats://127.0.0.1:{locked_nats}", "subject": "x.>",
                                            "username": "city", "password": "wrong"})
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        nats.test()
    right = open_feed("mqtt", unique("pw"), {"url": f"mqtt://127.0.0.1:{locked_mqtt}", "topic": "x/#",
                                             "username": "city", "password": "right-password"})
    right.test()  # the same broker with the right password answers


def test_a_refused_feed_is_recorded_and_a_quiet_topic_runs_without_error(locked_mqtt: int) -> None:
    ensure_dept("ecology")
    refused, quiet = unique("refused"), unique("quiet")
    service.create_feed(SYSTEM, refused, "ecology", "mqtt", {
        "url": f"mqtt://127.0.0.1:{locked_mqtt}", "topic": "x/#", "username": "city", "password": "wrong"},
        model="AirQualityObserved")
    service.create_feed(SYSTEM, quiet, "ecology", "mqtt", {"url": "mqtt://127.0.0.1:1883",
                                                           "topic": f"nobody/{quiet}/#", "qos": 1},
                        model="AirQualityObserved")
    proc = StreamProcess([refused, quiet], retry_seconds=60)
    proc.poll()
    try:
        assert list(proc.runners) == [quiet]  # the refused feed does not hold up the other one
        status = service.feed_status(SYSTEM, refused)
        assert "refused the credentials" in (status["last_error"] or "")
        calm = service.feed_status(SYSTEM, quiet)
        assert calm["last_error"] is None and calm["readings"] == 0 and proc.runners[quiet].lag == 0
    finally:
        for runner in proc.runners.values():
            runner.stop()
