"""Delivery under trouble: refusing servers, an SMTP outage, a database outage, several workers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from helpdesk_testing.plugin import wait_for
from helpdesk_testing.proxy import TcpProxy
from notifier.sink import MailSink

from . import events_factory as ev
from .mailbox import count_mails, read_mails, wait_for_mails


async def _statuses(db: Any) -> dict[str, int]:
    rows = await db.fetch("SELECT status, count(*) AS n FROM notifier.deliveries GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def test_451_twice_then_accepted(
    make_settings: Any, run_app: Any, publisher: Any, smtp_servers: Any, scripted: Any, db: Any
) -> None:
    handler = scripted(["451 4.3.0 greylisted", "451 4.3.0 greylisted"])
    server = await smtp_servers(handler)
    async with run_app(make_settings(smtp_port=server.port, mail_retry_attempts=3)):
        await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref("Mo Derator"))))

        async def sent() -> bool:
            return (await _statuses(db)).get("sent") == 1

        await wait_for(sent, timeout=10, message="the mail to be sent")
        await asyncio.sleep(0.5)
    assert handler.data_calls == 3
    assert len(handler.accepted) == 1
    assert await db.fetchval("SELECT attempts FROM notifier.deliveries") == 3


async def test_refusals_beyond_the_retry_budget_wait_in_the_table(
    make_settings: Any, run_app: Any, publisher: Any, smtp_servers: Any, scripted: Any, db: Any
) -> None:
    """Two quick tries, then the mail waits (pending, with the error) and goes out later."""
    handler = scripted(["421 4.7.0 slow down"] * 3)
    server = await smtp_servers(handler)
    settings = make_settings(smtp_port=server.port, mail_retry_attempts=2, mail_backoff_max=1.0)
    async with run_app(settings):
        await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref("Mo Derator"))))

        async def deferred() -> Any:
            return await db.fetchrow(
                "SELECT status, last_error_code, attempts FROM notifier.deliveries"
                " WHERE status = 'pending' AND attempts = 2"
            )

        row = await wait_for(deferred, timeout=10, message="the mail to be deferred")
        assert row["last_error_code"] == 421

        async def sent() -> bool:
            return (await _statuses(db)).get("sent") == 1

        await wait_for(sent, timeout=10, message="the mail to go out later")
    assert len(handler.accepted) == 1
    assert await db.fetchval("SELECT attempts FROM notifier.deliveries") == 4


async def test_smtp_down_for_a_while_loses_nothing(
    make_settings: Any, run_app: Any, publisher: Any, unused_port: int, tmp_path: Any, db: Any
) -> None:
    """ "A minute" is OUTAGE seconds here: events are taken at once, mails go out after."""
    outage = 3.0
    settings = make_settings(smtp_port=unused_port, mail_retry_attempts=2, mail_backoff_max=0.5)
    envelopes = [ev.assigned(ev.snapshot(assignee=ev.user_ref(f"Mo {i}"))) for i in range(10)]
    sink = MailSink(directory=tmp_path / "mail", port=unused_port)
    async with run_app(settings):
        loop = asyncio.get_running_loop()
        for envelope in envelopes:
            await publisher.publish(envelope)

        async def all_processed() -> bool:
            n = await db.fetchval("SELECT count(*) FROM notifier.processed_messages")
            return bool(n == 10)

        # the consumer does not wait for SMTP: every event is taken and its mail queued
        await wait_for(all_processed, timeout=10, message="the events to be consumed")
        down_since = loop.time()
        await asyncio.sleep(outage)
        assert (await _statuses(db)) == {"pending": 10}
        assert await db.fetchval("SELECT count(*) FROM notifier.deliveries WHERE last_error LIKE '%onnect%'") > 0
        await sink.start()
        try:
            mails = await wait_for_mails(sink.directory, 10, timeout=10, settle=1.0)
            back_after = loop.time() - down_since
        finally:
            await sink.stop()
    assert back_after < outage + 5
    assert len(mails) == 10
    assert sorted(m["To"].addresses[0].display_name for m in mails) == sorted(f"Mo {i}" for i in range(10))
    assert len({m["Message-ID"] for m in mails}) == 10
    assert (await _statuses(db)) == {"sent": 10}


async def test_a_mail_that_never_gets_through_is_recorded_as_failed(
    make_settings: Any, run_app: Any, publisher: Any, unused_port: int, db: Any
) -> None:
    settings = make_settings(smtp_port=unused_port, mail_retry_attempts=1, mail_backoff_max=0.2, mail_give_up_after=1.5)
    async with run_app(settings):
        await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref("Mo Derator"))))

        async def failed() -> Any:
            return await db.fetchrow("SELECT attempts, last_error FROM notifier.deliveries WHERE status = 'failed'")

        row = await wait_for(failed, timeout=15, message="the delivery to be given up")
    assert row["attempts"] >= 2
    assert "onnect" in row["last_error"]


async def test_several_processes_send_each_mail_once(
    make_settings: Any, run_app: Any, publisher: Any, sink: MailSink, db: Any
) -> None:
    """Two notifier processes (apps), four workers each, one queue: 60 mails, 60 sent."""
    count = 60
    settings = make_settings(smtp_port=sink.port, mail_workers=4)
    async with run_app(settings), run_app(settings):
        for i in range(count):
            await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref(f"Mo {i}"))))
        mails = await wait_for_mails(sink.directory, count, timeout=30, settle=1.0)
    assert len(mails) == count
    assert len({m["Message-ID"] for m in mails}) == count
    assert (await _statuses(db)) == {"sent": count}


async def test_database_outage_delays_but_loses_nothing(
    make_settings: Any,
    run_app: Any,
    publisher: Any,
    sink: MailSink,
    clean_db: Any,
    db: Any,
    dead_letters: Any,
) -> None:
    """Postgres unreachable (a cut proxy) for longer than the bus' redelivery budget:
    events wait in the consumer, nothing is dead-lettered, every mail goes out once after."""
    proxy = await TcpProxy(clean_db.host, clean_db.port).start()
    settings = make_settings(
        smtp_port=sink.port, database_url=clean_db.url("notifier", host="127.0.0.1", port=proxy.port)
    )
    try:
        async with run_app(settings):
            await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref("Before"))))

            async def before_sent() -> bool:
                return (await _statuses(db)).get("sent") == 1

            # (cutting between the SMTP accept and the commit is the documented duplicate window)
            await wait_for(before_sent, timeout=10, message="the first mail to be recorded sent")
            await proxy.cut()
            for i in range(3):
                await publisher.publish(ev.assigned(ev.snapshot(assignee=ev.user_ref(f"During {i}"))))
            await asyncio.sleep(5.0)
            assert count_mails(sink.directory) == 1
            await proxy.restore()
            mails = await wait_for_mails(sink.directory, 4, timeout=30, settle=1.0)
    finally:
        await proxy.close()
    assert sorted(m["To"].addresses[0].display_name for m in mails) == [
        "Before",
        "During 0",
        "During 1",
        "During 2",
    ]
    assert len(read_mails(sink.directory)) == 4
    assert (await _statuses(db)) == {"sent": 4}
    dead = await dead_letters("notifier")
    assert dead == 0


async def test_the_consumer_waits_for_the_database_instead_of_failing_the_event(clean_db: Any, db: Any) -> None:
    """While Postgres is unreachable the handler retries (tenacity) rather than raising,
    so a restart of the database does not spend the event's redelivery budget."""
    from notifier.events import Consumer
    from notifier.service import MailSettings
    from shared.db import create_engine, create_sessionmaker

    proxy = await TcpProxy(clean_db.host, clean_db.port).start()
    engine = create_engine(clean_db.url("notifier", host="127.0.0.1", port=proxy.port))
    sessions = create_sessionmaker(engine)
    woken: list[bool] = []
    try:
        patient = Consumer(
            sessions=sessions,
            mail=MailSettings(web_base_url="https://help.example.test"),
            on_committed=lambda: woken.append(True),
            database_patience=30,
        ).handle
        impatient = Consumer(
            sessions=sessions,
            mail=MailSettings(web_base_url="https://help.example.test"),
            database_patience=0.01,
        ).handle
        await proxy.cut()
        envelope = ev.assigned(ev.snapshot(assignee=ev.user_ref("Mo Derator")))
        try:
            await impatient(envelope)
        except Exception as exc:  # noqa: BLE001
            impatient_error: BaseException | None = exc
        else:
            impatient_error = None
        assert impatient_error is not None

        handling = asyncio.create_task(patient(envelope))
        await asyncio.sleep(2.0)
        assert not handling.done()
        await proxy.restore()
        await asyncio.wait_for(handling, timeout=30)
        assert woken == [True]
        assert await db.fetchval("SELECT count(*) FROM notifier.deliveries") == 1
    finally:
        await engine.dispose()
        await proxy.close()


async def test_a_wake_up_sends_one_worker_to_look_not_all() -> None:
    """One committed mail costs one claim, not one per worker; a full batch brings in another."""
    from notifier.delivery import DeliveryLoop
    from notifier.smtp import RetryPolicy, SmtpConfig

    class Counting(DeliveryLoop):
        def __init__(self) -> None:
            super().__init__(
                sessions=None,  # type: ignore[arg-type]
                smtp=SmtpConfig(),
                policy=RetryPolicy(),
                mail_from="Helpdesk <help@example.test>",
                sender_domain="example.test",
                workers=4,
                batch_size=2,
                poll_interval=30,
            )
            self.calls = 0
            self.due: list[int] = []

        async def deliver_batch(self, sender: Any) -> int:
            self.calls += 1
            await asyncio.sleep(0)
            return self.due.pop(0) if self.due else 0

    loop = Counting()
    task = asyncio.create_task(loop.run())
    try:

        async def all_looked() -> bool:
            return loop.calls == 4

        await wait_for(all_looked, timeout=5, message="every worker's first look")
        await asyncio.sleep(0.05)
        loop.wake()
        await asyncio.sleep(0.05)
        assert loop.calls == 5
        loop.due = [2, 1]  # a full batch: a second worker looks too, and finds the rest
        loop.wake()
        await asyncio.sleep(0.05)
        # the full batch wakes another worker and looks again itself (finding nothing); the other
        # takes the last mail, less than a batch, and waits: no empty look after a partial batch
        assert loop.calls == 8
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
