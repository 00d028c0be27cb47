"""The RabbitMQ bus (aio-pika): confirmed persistent publishing and consumers that survive restarts.

- one durable topic exchange; every queue is a durable quorum queue with a delivery limit and a
  dead-letter queue, declared from `shared.events.TOPOLOGY` by every service at start;
- publishing uses publisher confirms, persistent messages and `mandatory` with returns raising;
- consumers use an explicit prefetch, ack after the handler (and its commit) succeeded, requeue
  with a growing delay on failure, and dead-letter malformed messages at once;
- a handler that failed because a dependency is away (`shared.outage.is_unavailable`) does not
  spend the message's delivery budget: the message stays unacked, every consumer of the process
  waits behind the `DependencyGate` until its probe passes, and the handler runs again in place;
- the connection is robust: after a broker restart channels, queues and consumers come back.
  A broker that is down at start does not stop the service: `start()` keeps trying;
- every message carries the publisher's broker user as `user_id`, which the broker validates
  against the connection; consumers dead-letter an event whose `user_id` is not the user of the
  service that owns its type (`shared.events.PUBLISHERS`): see `expected_publisher`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
)
from opentelemetry.trace import Span, SpanKind

from shared import tracing
from shared.events import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    PUBLISHERS,
    TOPOLOGY,
    Envelope,
    MalformedEventError,
    parse_envelope,
)
from shared.logging import bind_contextvars, clear_contextvars, get_logger
from shared.metrics import EVENTS_CONSUMED, EVENTS_PUBLISHED
from shared.outage import DependencyGate, DependencyUnavailableError, is_unavailable, never_the_message

log = get_logger(__name__)

# Fixed for every service: declaring a queue twice with other arguments fails.
DELIVERY_LIMIT = 5
# A message whose handler keeps failing "unavailable" although the probe passes each time is
# treated as failing by itself after this many in-place retries (then it spends deliveries);
# failures to get a connection at all (no slot, refused, pool empty) never count.
IN_PLACE_RETRIES = 10
Handler = Callable[[Envelope], Awaitable[None]]


class BusUnavailableError(DependencyUnavailableError):
    """The broker cannot be reached right now; try again later."""


class PermanentError(Exception):
    """Raise from a handler for a message that can never succeed: it is dead-lettered at once."""


def queue_arguments(queue: str) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
    }


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


REPLAY_HEADER = "x-helpdesk-replay"


def retry_delay(delivery_count: int) -> float:
    """Delay before requeueing a failed message: 0.2 s, 0.4 s, ... capped at 5 s."""
    return float(min(5.0, 0.2 * 2 ** max(0, delivery_count)))


def broker_user(url: str) -> str:
    """The user an AMQP URL logs in as (aio-pika's default when it names none)."""
    username = urlsplit(url).username
    return unquote(username) if username else "guest"


def expected_publisher(event_type: str, *, own_user: str, service: str) -> str | None:
    """The broker user that must have published `event_type`, seen from `service` logged in as `own_user`.

    Service users are `<prefix><service>` (`tickets`, or `h_e2e.tickets` for a test stack), so the
    owner's user is the same prefix plus the owner's name. A process whose user does not end in its
    service name shares one user with every process (service tests on one vhost): then only that
    user may publish. None: nobody may (an unknown type).
    """
    owner = PUBLISHERS.get(event_type)
    if owner is None:
        return None
    if own_user.endswith(service) and service:
        return own_user[: len(own_user) - len(service)] + owner
    return own_user


@dataclass(frozen=True)
class DeadLetter:
    """A message taken off a dead-letter queue, parsed when it can be."""

    queue: str  # the queue it died in (not the .dlq)
    message_id: str | None
    body: bytes
    envelope: Envelope | None
    error: str  # why it died, as far as this process knows


DeadLetterHandler = Callable[[DeadLetter], Awaitable[None]]


@dataclass
class _Consumer:
    queue: str
    handler: Handler
    routing_keys: tuple[str, ...] | None = None  # None: a topology queue; else transient
    dead_letters: bool = False
    recorder: DeadLetterHandler | None = None  # a dead-letter consumer that takes raw messages


_UNAVAILABLE = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    aio_pika.exceptions.ChannelClosed,
    ConnectionError,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    RuntimeError,
)


class Bus:
    """One service's connection to the broker."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        prefetch: int = 32,
        publish_timeout: float = 10.0,
        reconnect_interval: float = 1.0,
        gate: DependencyGate | None = None,
    ) -> None:
        self._url = url
        self._service = service
        self._user = broker_user(url)
        self._prefetch = prefetch
        self._publish_timeout = publish_timeout
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._consume_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractRobustExchange | None = None
        self._consumers: list[_Consumer] = []
        self._connected = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._gate = gate
        # the last error per message id, so the dead-letter consumer can say why one died
        self._last_errors: OrderedDict[str, str] = OrderedDict()

    # -- lifecycle -------------------------------------------------------------------------

    def consume(self, queue: str, handler: Handler, *, dead_letters: bool = False) -> None:
        """Register a handler for a topology queue (or its dead-letter queue); call before start()."""
        if queue not in TOPOLOGY:
            raise ValueError(f"unknown queue {queue!r}; add it to shared.events.TOPOLOGY")
        self._consumers.append(_Consumer(queue, handler, dead_letters=dead_letters))

    def consume_dead_letters(self, queue: str, recorder: DeadLetterHandler) -> None:
        """Take every message of `<queue>.dlq` (malformed ones too) to `recorder`; ack when it returns."""
        if queue not in TOPOLOGY:
            raise ValueError(f"unknown queue {queue!r}; add it to shared.events.TOPOLOGY")

        async def unused(_: Envelope) -> None:  # pragma: no cover - recorder consumers take raw messages
            raise AssertionError

        self._consumers.append(_Consumer(queue, unused, dead_letters=True, recorder=recorder))

    def subscribe(self, routing_keys: Sequence[str], handler: Handler) -> None:
        """Register a handler on a private, exclusive queue: every process receives every event."""
        self._consumers.append(_Consumer("", handler, routing_keys=tuple(routing_keys)))

    async def start(self) -> None:
        """Connect in the background; the service works (with its outbox) while the broker is down."""
        self._connect_task = asyncio.create_task(self._connect_loop(), name=f"bus-{self._service}")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self._connected.is_set()

    @property
    def consumes(self) -> bool:
        """Whether any consumer is registered (a publish-only service has none)."""
        return bool(self._consumers)

    @property
    def connected(self) -> bool:
        return (
            self._connected.is_set()
            and self._connection is not None
            and not self._connection.is_closed
            and self._publish_channel is not None
            and not self._publish_channel.is_closed
        )

    async def close(self) -> None:
        self._closing = True
        if self._connect_task:
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connect_task
        if self._inflight:
            # let running handlers finish (and ack) before the connection goes; one still running
            # after that is cancelled and awaited (redelivered later), not left pending
            _, late = await asyncio.wait(self._inflight, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), 5)
            # the client's own close callbacks are tasks too: let them run before the loop may end
            await asyncio.sleep(0)

    async def _connect_loop(self) -> None:
        while not self._closing:
            try:
                await self._connect()
                return
            except Exception as exc:  # noqa: BLE001 - any failure: wait and try again
                log.warning("bus_connect_failed", error=str(exc)[:200])
                if self._connection is not None:
                    with contextlib.suppress(Exception):
                        await self._connection.close()
                    self._connection = None
                await asyncio.sleep(self._reconnect_interval)

    async def _connect(self) -> None:
        connection = await aio_pika.connect_robust(
            self._url,
            timeout=10,
            reconnect_interval=self._reconnect_interval,
            client_properties={"connection_name": self._service},
        )
        self._connection = connection
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await declare_topology(channel)
        self._publish_channel = channel
        if self._consumers:
            consume_channel = await connection.channel()
            await consume_channel.set_qos(prefetch_count=self._prefetch)
            for consumer in self._consumers:
                await self._attach(consume_channel, consumer)
            self._consume_channel = consume_channel
        connection.reconnect_callbacks.add(self._on_reconnect)
        connection.close_callbacks.add(self._on_close)
        self._connected.set()
        log.info("bus_connected", consumers=len(self._consumers))

    def _on_reconnect(self, *_: Any) -> None:
        self._connected.set()
        log.info("bus_reconnected")

    def _on_close(self, *_: Any) -> None:
        if not self._closing:
            log.warning("bus_connection_lost")

    async def _attach(self, channel: AbstractRobustChannel, consumer: _Consumer) -> None:
        queue: AbstractQueue
        if consumer.routing_keys is not None:
            queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
            exchange = await channel.get_exchange(EXCHANGE)
            for key in consumer.routing_keys:
                await queue.bind(exchange, routing_key=key)
            label = "transient"
        else:
            name = dead_letter_queue(consumer.queue) if consumer.dead_letters else consumer.queue
            queue = await channel.get_queue(name, ensure=True)
            label = name
        await queue.consume(self._wrap(label, consumer))

    # -- publishing ------------------------------------------------------------------------

    def _message(self, envelope: Envelope, headers: dict[str, Any] | None = None) -> aio_pika.Message:
        """A persistent message of `envelope`, stamped with this connection's broker user."""
        return aio_pika.Message(
            body=envelope.model_dump_json().encode(),
            message_id=str(envelope.id),
            type=envelope.type,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            correlation_id=envelope.correlation_id,
            timestamp=envelope.occurred_at,
            user_id=self._user,  # the broker refuses a user_id other than the connection's user
            headers=headers,
        )

    async def publish(self, envelope: Envelope) -> None:
        """Publish and wait for the broker's confirm; raises unless the broker took the message."""
        if not self.connected or self._exchange is None:
            raise BusUnavailableError("not connected to the broker")
        tracer = tracing.tracer(self._service)
        if tracer is None:
            await self._publish(self._exchange, envelope, self._message(envelope))
            return
        # a PRODUCER span under the span that wrote the event (its traceparent is in the envelope,
        # stored with the outbox row); consumers continue from the message's traceparent header
        with tracer.start_as_current_span(
            f"{envelope.type} publish",
            context=tracing.extract({"traceparent": envelope.traceparent} if envelope.traceparent else None),
            kind=SpanKind.PRODUCER,
            attributes={**tracing.message_attributes(envelope, EXCHANGE), "messaging.operation.type": "publish"},
        ) as span:
            try:
                await self._publish(self._exchange, envelope, self._message(envelope, tracing.inject({})))
            except Exception as exc:
                tracing.mark_failed(span, exc)
                raise

    async def _publish(self, exchange: AbstractRobustExchange, envelope: Envelope, message: aio_pika.Message) -> None:
        try:
            await exchange.publish(message, routing_key=envelope.type, mandatory=True, timeout=self._publish_timeout)
        except aio_pika.exceptions.DeliveryError:
            raise
        except _UNAVAILABLE as exc:
            raise BusUnavailableError(str(exc) or type(exc).__name__) from exc
        EVENTS_PUBLISHED.labels(envelope.type).inc()

    async def publish_to_queue(self, envelope: Envelope, queue: str) -> None:
        """Put an event straight on one queue (a replayed dead letter), confirmed by the broker."""
        if not self.connected or self._publish_channel is None:
            raise BusUnavailableError("not connected to the broker")
        message = self._message(envelope, headers={REPLAY_HEADER: 1})
        try:
            await self._publish_channel.default_exchange.publish(
                message, routing_key=queue, mandatory=True, timeout=self._publish_timeout
            )
        except aio_pika.exceptions.DeliveryError:
            raise
        except _UNAVAILABLE as exc:
            raise BusUnavailableError(str(exc) or type(exc).__name__) from exc

    def _genuine(self, envelope: Envelope, message: AbstractIncomingMessage) -> bool:
        """Whether the owner of the event's type published it (or this service replayed its own dead letter)."""
        expected = expected_publisher(envelope.type, own_user=self._user, service=self._service)
        if expected is not None and message.user_id == expected:
            return True
        # a replay is put on this service's own queue by this service's own user (the broker checks
        # user_id), and keeps its mark if it dies again
        return message.user_id == self._user and bool((message.headers or {}).get(REPLAY_HEADER))

    def _remember_error(self, message_id: str | None, error: str) -> None:
        if message_id:
            self._last_errors[message_id] = error[:2000]
            self._last_errors.move_to_end(message_id)
            while len(self._last_errors) > 5000:
                self._last_errors.popitem(last=False)

    # -- consuming -------------------------------------------------------------------------

    def _wrap(self, queue: str, consumer: _Consumer) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                await self._handle(queue, consumer, message)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        return on_message

    async def _handle(self, queue: str, consumer: _Consumer, message: AbstractIncomingMessage) -> None:
        clear_contextvars()
        bind_contextvars(service=self._service, queue=queue, message_id=message.message_id)
        if consumer.recorder is not None:
            await self._record_dead_letter(consumer, consumer.recorder, message)
            return
        try:
            envelope = parse_envelope(message.body)
        except MalformedEventError as exc:
            if consumer.dead_letters:
                # a dead letter that cannot even be parsed: keep it where an operator sees it
                log.error("dead_letter_unparseable", error=str(exc)[:200])
                await _settle(message.nack(requeue=True))
                await asyncio.sleep(5)
                return
            log.error("event_malformed", error=str(exc)[:300])
            self._remember_error(message.message_id, f"malformed: {exc}")
            EVENTS_CONSUMED.labels(queue, "malformed", "dead_lettered").inc()
            await _settle(message.reject(requeue=False))
            return
        bind_contextvars(event_type=envelope.type, event_id=str(envelope.id), correlation_id=envelope.correlation_id)
        # dead-lettering keeps user_id, so genuine dead letters pass this check too
        if not self._genuine(envelope, message):
            log.error(
                "dead_letter_forged" if consumer.dead_letters else "event_forged", publisher=str(message.user_id)[:64]
            )
            EVENTS_CONSUMED.labels(queue, envelope.type, "forged").inc()
            # a forged dead letter is dropped: its handler must not act on it either
            await _settle(message.ack() if consumer.dead_letters else message.reject(requeue=False))
            clear_contextvars()
            return
        if tracing.tracer(self._service) is None:
            await self._run_handler(queue, consumer, envelope, message, None)
            return
        with tracing.consumer_span(self._service, queue, envelope, message.headers) as span:
            await self._run_handler(queue, consumer, envelope, message, span)

    async def _run_handler(
        self,
        queue: str,
        consumer: _Consumer,
        envelope: Envelope,
        message: AbstractIncomingMessage,
        span: Span | None,
    ) -> None:
        try:
            if not await self._run_through_outages(lambda: consumer.handler(envelope)):
                return  # shutting down while paused: unsettled, the broker hands it on
        except PermanentError as exc:
            tracing.mark_failed(span, exc)
            log.error("event_rejected", error=str(exc)[:300])
            self._remember_error(message.message_id, f"rejected: {exc}")
            EVENTS_CONSUMED.labels(queue, envelope.type, "dead_lettered").inc()
            await _settle(message.reject(requeue=False))
        except Exception as exc:  # noqa: BLE001 - requeue; the delivery limit dead-letters it
            tracing.mark_failed(span, exc)
            deliveries = _delivery_count(message)
            self._remember_error(message.message_id, f"{type(exc).__name__}: {exc}")
            # the traceback once per message, not per redelivery: logging is not free
            log.warning(
                "event_failed",
                error=str(exc)[:300] or type(exc).__name__,
                deliveries=deliveries,
                exc_info=exc if deliveries == 0 else None,
            )
            EVENTS_CONSUMED.labels(queue, envelope.type, "retried").inc()
            await asyncio.sleep(retry_delay(deliveries))
            await _settle(message.nack(requeue=True))
        else:
            EVENTS_CONSUMED.labels(queue, envelope.type, "ok").inc()
            await _settle(message.ack())
        finally:
            clear_contextvars()

    async def _record_dead_letter(
        self, consumer: _Consumer, recorder: DeadLetterHandler, message: AbstractIncomingMessage
    ) -> None:
        try:
            envelope: Envelope | None = parse_envelope(message.body)
        except MalformedEventError:
            envelope = None
        if envelope is not None and not self._genuine(envelope, message):
            # dead-lettering keeps user_id: only a forged message fails this, and it is dropped
            log.error("dead_letter_forged", publisher=str(message.user_id)[:64])
            await _settle(message.ack())
            return
        reason = _death_reason(message)
        known = self._last_errors.get(message.message_id or "")
        letter = DeadLetter(
            queue=consumer.queue,
            message_id=message.message_id,
            body=message.body,
            envelope=envelope,
            error=f"{known or 'failed in another process'} ({reason})",
        )
        try:
            if not await self._run_through_outages(lambda: recorder(letter)):
                return
        except Exception as exc:  # noqa: BLE001 - keep it in the broker, try again soon
            log.error("dead_letter_not_recorded", error=str(exc)[:300], exc_info=exc)
            await asyncio.sleep(5)
            await _settle(message.nack(requeue=True))
            return
        await _settle(message.ack())

    async def _run_through_outages(self, call: Callable[[], Awaitable[None]]) -> bool:
        """Run the handler; while it fails for want of a dependency, pause and run it again."""
        failures = 0
        while True:
            if self._gate is not None and not self._gate.is_open:
                while not self._gate.is_open:
                    if self._closing:
                        return False
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._gate.wait_open(), 1.0)
            try:
                await call()
                return True
            except PermanentError:
                raise
            except Exception as exc:
                if not never_the_message(exc):
                    failures += 1
                if self._gate is None or self._closing or failures > IN_PLACE_RETRIES or not is_unavailable(exc):
                    raise
                log.warning("event_paused_for_dependency", error=type(exc).__name__, detail=str(exc)[:200])
                self._gate.report(exc)


def _death_reason(message: AbstractIncomingMessage) -> str:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        reason = str(deaths[0].get("reason", "dead-lettered"))
        return {"delivery_limit": "delivery limit reached", "rejected": "rejected"}.get(reason, reason)
    return "dead-lettered"


def _delivery_count(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get("x-delivery-count", 0)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


async def _settle(operation: Awaitable[Any]) -> None:
    """Ack/nack/reject; if the channel died meanwhile the broker redelivers, which is safe."""
    try:
        await operation
    except Exception as exc:  # noqa: BLE001
        log.warning("settle_failed", error=str(exc)[:200])


async def declare_topology(channel: aio_pika.abc.AbstractChannel) -> Any:
    """Declare the exchange, every queue, its bindings and its dead-letter queue (idempotent)."""
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    for name, keys in TOPOLOGY.items():
        queue = await channel.declare_queue(name, durable=True, arguments=queue_arguments(name))
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        dlq = await channel.declare_queue(dead_letter_queue(name), durable=True, arguments={"x-queue-type": "quorum"})
        await dlq.bind(dlx, routing_key=name)
    return exchange
