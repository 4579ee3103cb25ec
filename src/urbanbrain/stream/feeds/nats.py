"""NATS JetStream feed (nats-py): a durable pull consumer, acknowledged only once durable here.

The stream (`stream` option, created over `subject` when missing) keeps messages until our durable
consumer acknowledges them; a stream process killed at any moment resumes from the first
unacknowledged message. Pulling a batch only when the pipeline takes it is the backpressure; the
consumer's pending count is the lag.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any, ClassVar

from urbanbrain.core.aio import run_coroutine
from urbanbrain.core.errors import AuthenticationError, SourceUnreachableError
from urbanbrain.stream.feeds.base import Deliver, Message


def _deliver_all(deliver: Deliver, batch: list[Message]) -> None:
    for message in batch:
        deliver(message)


def _token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


class NatsFeed:
    kind: ClassVar[str] = "nats"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.url = str(options.get("url") or "nats://127.0.0.1:4222")
        self.subject = str(options.get("subject") or f"feeds.{name}.>")
        self.stream = str(options.get("stream") or _token(f"UB_{name}").upper())
        self.durable = str(options.get("durable") or _token(f"ub_{name}"))
        self.batch = int(options.get("batch", 1000))
        self.user = options.get("username")
        self.password = options.get("password")
        self.token = options.get("token")
        self.timeout = float(options.get("timeout", 5.0))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._lag: int | None = None
        self._nc: Any = None

    async def _open(self, reconnect: bool = False) -> Any:
        """Connect; with `reconnect` (the running consumer) the client keeps reconnecting after a loss."""
        import nats
        from nats.errors import NoServersError

        kwargs: dict[str, Any] = {"connect_timeout": self.timeout, "max_reconnect_attempts": -1,
                                  "allow_reconnect": True}
        if self.user:
            kwargs.update(user=str(self.user), password=str(self.password or ""))
        if self.token:
            kwargs["token"] = str(self.token)
        seen: list[Exception] = []

        async def quiet(exc: Exception) -> None:
            seen.append(exc)  # reported through the exception below, not logged per retry

        try:
            return await asyncio.wait_for(nats.connect(self.url, error_cb=quiet, **{
                **kwargs, "max_reconnect_attempts": -1 if reconnect else 1, "reconnect_time_wait": 0.2}), self.timeout)
        except (TimeoutError, NoServersError, OSError) as exc:
            if any("authorization" in str(e).lower() for e in seen):  # the server answered: it refused us
                raise AuthenticationError(f"NATS at {self.url} refused the credentials: {seen[-1]}",
                                          hint="check the feed's username/password or token") from None
            raise SourceUnreachableError(f"NATS at {self.url} did not answer: {exc}",
                                         hint="check the url and that nats-server runs with -js") from None
        except Exception as exc:
            if "authorization" in str(exc).lower():
                raise AuthenticationError(f"NATS at {self.url} refused the credentials: {exc}",
                                          hint="check the feed's username/password or token") from None
            raise SourceUnreachableError(f"cannot connect to NATS at {self.url}: {exc}") from None

    async def _ensure_stream(self, js: Any) -> None:
        from nats.js.errors import NotFoundError as JsNotFound

        try:
            await js.stream_info(self.stream)
        except JsNotFound:
            await js.add_stream(name=self.stream, subjects=[self.subject])

    def test(self) -> None:
        async def run() -> None:
            nc = await self._open()
            try:
                await self._ensure_stream(nc.jetstream())
            finally:
                await nc.close()

        run_coroutine(run())

    def start(self, deliver: Deliver) -> None:
        loop = asyncio.new_event_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._loop, self._running = loop, True

        async def consume() -> None:
            from nats.errors import TimeoutError as NatsTimeout

            try:
                self._nc = await self._open(reconnect=True)
                js = self._nc.jetstream()
                await self._ensure_stream(js)
                sub = await js.pull_subscribe(self.subject, durable=self.durable, stream=self.stream)
            except Exception as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            polls = 0
            while self._running:
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, NatsTimeout):
                    msgs = []
                except Exception:
                    await asyncio.sleep(0.5)  # reconnecting
                    continue
                if msgs:
                    batch = [Message(m.data, m.subject, self._acker(m, loop), {"nats": m}) for m in msgs]
                    await loop.run_in_executor(None, _deliver_all, deliver, batch)
                polls += 1
                if polls % 20 == 1 or not msgs:
                    try:
                        info = await sub.consumer_info()
                        self._lag = int(info.num_pending) + int(info.num_ack_pending)
                    except Exception:
                        self._lag = None
            await self._nc.close()

        self._thread = threading.Thread(target=loop.run_until_complete, args=(consume(),),
                                        name=f"ub-feed-{self.name}", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), self.timeout + 5),
                                             loop).result(self.timeout + 6)
        except Exception:
            self._running = False
            raise

    @staticmethod
    def _acker(msg: Any, loop: asyncio.AbstractEventLoop) -> Any:
        def ack() -> None:
            asyncio.run_coroutine_threadsafe(msg.ack(), loop)
        return ack

    def ack_many(self, messages: list[Message]) -> None:
        """Acknowledge a worker batch with one hop into the event loop (not one per message)."""
        loop = self._loop
        msgs = [m.meta["nats"] for m in messages if "nats" in m.meta]
        if loop is None or not msgs:
            for m in messages:
                if m.ack is not None and "nats" not in m.meta:
                    m.ack()
            return

        async def ack_all() -> None:
            for m in msgs:
                await m.ack()

        asyncio.run_coroutine_threadsafe(ack_all(), loop)

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def lag(self) -> int | None:
        return self._lag
