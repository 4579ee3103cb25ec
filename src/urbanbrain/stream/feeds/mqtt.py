"""MQTT feed (paho-mqtt): QoS 0 or 1, MQTT 3.1.1 or 5, TLS and username/password.

With QoS 1 the session is persistent (a fixed client id, clean session off / a session expiry on
MQTT 5) and messages are acknowledged by hand, only after the pipeline made them durable: a stream
killed at any moment gets every unacknowledged message again from the broker when it restarts. The
broker's in-flight window bounds what is unacknowledged; when the pipeline's queue is full the
network thread blocks in `deliver` and stops reading, so overload never grows our memory.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar
from urllib.parse import urlparse

from urbanbrain.core.errors import AuthenticationError, ConfigurationError, SourceUnreachableError
from urbanbrain.stream.feeds.base import Deliver, Message

AUTH_CODES = {4, 5, 134, 135}  # bad user name or password / not authorised (3.1.1 and 5)


class MqttFeed:
    kind: ClassVar[str] = "mqtt"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        url = urlparse(str(options.get("url") or "mqtt://127.0.0.1:1883"))
        if url.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigurationError(f"MQTT url must be mqtt://host:port or mqtts://host:port, got {url.scheme}://")
        self.name = name
        self.host = url.hostname or "127.0.0.1"
        self.tls = url.scheme in ("mqtts", "ssl") or bool(options.get("tls"))
        self.port = url.port or (8883 if self.tls else 1883)
        self.topic = str(options.get("topic") or "#")
        self.qos = int(options.get("qos", 1))
        if self.qos not in (0, 1):
            raise ConfigurationError(f"MQTT QoS {self.qos} is not supported", hint="use 0 or 1")
        self.version = str(options.get("version", "3.1.1"))
        if self.version not in ("3.1.1", "5"):
            raise ConfigurationError(f"MQTT version {self.version!r} is not supported", hint="use 3.1.1 or 5")
        self.username = options.get("username") or url.username
        self.password = options.get("password") or url.password
        self.ca_file = options.get("ca_file")
        self.client_id = str(options.get("client_id") or f"urbanbrain-{name}")
        self.timeout = float(options.get("timeout", 5.0))
        self._client: Any = None
        self._refused: int | None = None

    def _new_client(self, client_id: str, persistent: bool) -> Any:
        import paho.mqtt.client as mqtt

        v5 = self.version == "5"
        kwargs: dict[str, Any] = {"callback_api_version": mqtt.CallbackAPIVersion.VERSION2,
                                  "client_id": client_id, "protocol": mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                                  "manual_ack": persistent and self.qos == 1}
        if not v5:
            kwargs["clean_session"] = not persistent
        client = mqtt.Client(**kwargs)
        if self.username:
            client.username_pw_set(str(self.username), str(self.password) if self.password else None)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file)
        return client

    def _connect(self, client: Any, persistent: bool) -> None:
        props = None
        kwargs: dict[str, Any] = {}
        if self.version == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 7 * 24 * 3600 if persistent else 0
            kwargs = {"clean_start": not persistent, "properties": props}
        try:
            client.connect(self.host, self.port, keepalive=30, **kwargs)
        except (OSError, ValueError) as exc:
            raise SourceUnreachableError(f"MQTT broker {self.host}:{self.port} did not answer: {exc}",
                                         hint="check the url and that the broker runs") from None

    def test(self) -> None:
        """Connect with a throwaway client id and wait for the broker's answer (CONNACK)."""
        done = threading.Event()
        result: dict[str, int] = {}
        client = self._new_client(f"{self.client_id}-test", persistent=False)

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            result["rc"] = int(getattr(reason, "value", reason))
            done.set()

        client.on_connect = on_connect
        self._connect(client, persistent=False)
        client.loop_start()
        try:
            if not done.wait(self.timeout):
                raise SourceUnreachableError(f"MQTT broker {self.host}:{self.port} sent no CONNACK within "
                                             f"{self.timeout:g} s")
        finally:
            client.disconnect()
            client.loop_stop()
        self._check(result.get("rc", 0))

    def _check(self, rc: int) -> None:
        if rc in AUTH_CODES:
            raise AuthenticationError(f"MQTT broker {self.host}:{self.port} refused the credentials (code {rc})",
                                      hint="check the feed's username and password")
        if rc:
            raise SourceUnreachableError(f"MQTT broker {self.host}:{self.port} refused the connection (code {rc})")

    def start(self, deliver: Deliver) -> None:
        client = self._new_client(self.client_id, persistent=self.qos == 1)
        manual = self.qos == 1
        answered = threading.Event()  # the broker's CONNACK, accepting or refusing

        def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            rc = int(getattr(reason, "value", reason))
            self._refused = rc or None
            if rc == 0:
                c.subscribe(self.topic, qos=self.qos)
            answered.set()

        def on_message(c: Any, _u: Any, msg: Any) -> None:
            ack = None
            if manual and msg.qos > 0:
                mid, qos = msg.mid, msg.qos
                ack = lambda: c.ack(mid, qos)  # noqa: E731
            deliver(Message(msg.payload, msg.topic, ack))

        client.on_connect = on_connect
        client.on_message = on_message
        self._client = client
        self._connect(client, persistent=manual)
        client.loop_start()
        if not answered.wait(self.timeout) or self._refused:
            self.stop()
            if self._refused:
                self._check(self._refused)
            raise SourceUnreachableError(f"MQTT broker {self.host}:{self.port} did not accept the "
                                         f"subscription within {self.timeout:g} s")

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def lag(self) -> int | None:
        return None
