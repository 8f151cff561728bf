"""The mailbox: one consumer generation at a time, FIFO, heartbeats, closing."""

from __future__ import annotations

import threading

from supervisor.mailbox import Envelope, Mailbox, Reply


def test_revoking_a_generation_stops_its_consumer_and_keeps_the_mail() -> None:
    box = Mailbox("a")
    first = box.grant()
    box.put(Envelope("one"))
    assert box.take(first).message == "one"  # type: ignore[union-attr]
    box.put(Envelope("two"))
    box.revoke(first)
    assert box.take(first) is None
    second = box.grant()
    assert box.take(second).message == "two"  # type: ignore[union-attr]


def test_a_waiting_consumer_wakes_up_when_revoked() -> None:
    box = Mailbox("a")
    gen = box.grant()
    result: list[object] = []
    consumer = threading.Thread(target=lambda: result.append(box.take(gen)))
    consumer.start()
    box.revoke(gen)
    consumer.join(5)
    assert result == [None]


def test_revoking_an_old_generation_does_not_touch_the_new_one() -> None:
    box = Mailbox("a")
    old = box.grant()
    new = box.grant()
    box.revoke(old)
    box.put(Envelope("x"))
    assert box.take(new).message == "x"  # type: ignore[union-attr]


def test_close_returns_what_was_left_and_refuses_more() -> None:
    box = Mailbox("a")
    box.put(Envelope(1))
    box.put(Envelope(2))
    assert [e.message for e in box.close()] == [1, 2]
    assert box.put(Envelope(3)) is False


def test_heartbeats_are_answered_by_an_idle_consumer_or_when_it_next_takes() -> None:
    box = Mailbox("a")
    gen = box.grant()
    box.put(Envelope("busy"))
    box.take(gen)  # now "handling" the message
    ping = box.ping()
    assert not box.answered(ping)
    box.put(Envelope("next"))
    box.take(gen)  # back between messages: answered
    assert box.answered(ping)


def test_a_reply_is_set_once() -> None:
    reply = Reply()
    assert reply.set(1) is True
    assert reply.fail(RuntimeError()) is False
    assert reply.wait(0) == 1


class _LateWakingCondition(threading.Condition):
    """Holds the thread named "old" right after it is woken (lock released), as a busy CPU would."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self.release_old = threading.Event()
        self.new_waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        if threading.current_thread().name == "new":
            self.new_waiting.set()
        woken = super().wait(timeout)
        if threading.current_thread().name == "old":
            self.release()
            self.release_old.wait(5)
            self.acquire()
        return woken


def test_a_revoked_consumer_waking_late_does_not_swallow_the_next_wakeup() -> None:
    """Regression: a revoked incarnation that woke after its successor began waiting used to
    clear a single 'waiting' flag, so later mail never woke the successor."""
    box = Mailbox("a")
    late = _LateWakingCondition(box._lock)  # noqa: SLF001 - inject the scheduling we want to test
    box._nonempty = late  # noqa: SLF001
    first = box.grant()
    old = threading.Thread(target=box.take, args=(first,), name="old", daemon=True)
    old.start()
    while box._waiters == 0:  # noqa: SLF001 - the old consumer is waiting
        threading.Event().wait(0.001)
    second = box.grant()  # revokes and wakes the old consumer, which is held just after waking
    got: list[Envelope | None] = []
    new = threading.Thread(target=lambda: got.append(box.take(second)), name="new", daemon=True)
    new.start()
    assert late.new_waiting.wait(5)
    late.release_old.set()  # the old consumer now finishes leaving
    old.join(5)
    box.put(Envelope("for the new incarnation"))
    new.join(5)
    assert [e.message for e in got if e is not None] == ["for the new incarnation"]


def test_a_reopened_mailbox_takes_mail_again_for_a_new_generation() -> None:
    box = Mailbox("a")
    box.close()
    assert not box.put(Envelope("lost"))
    box.reopen()
    generation = box.grant()
    assert box.put(Envelope("kept"))
    taken = box.take(generation)
    assert taken is not None and taken.message == "kept"
