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
