"""The actor contract is checked at start: a broken handler fails the start naming the method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actors.base import Actor, HandlerError
from messages import Message, Ping, Pong
from supervisor import ChildSpec, ManualClock, Runtime, StartError, Supervisor


class Increment(Message, frozen=True):
    n: int


class Unannotated(Actor):
    def on_add(self, message) -> None:  # type: ignore[no-untyped-def]
        pass


class TwoForOne(Actor):
    def on_add(self, message: Increment) -> None:
        pass

    def on_plus(self, message: Increment) -> None:
        pass


class Unresolved(Actor):
    def on_add(self, message: NoSuchMessage) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass


class NotAMessage(Actor):
    def on_add(self, message: int) -> None:
        pass


class Base(Actor):
    def on_add(self, message: Increment) -> int:
        return 1


class Override(Base):
    def on_add(self, message: Increment) -> int:
        return 2


class Echo(Actor):
    def on_add(self, message: Increment) -> Increment:
        return self.reply(message)


def start(factory: Callable[[], Any], clock: ManualClock) -> Runtime:
    runtime = Runtime(Supervisor([ChildSpec("x", factory)]), clock=clock)
    runtime.start()
    return runtime


@pytest.mark.parametrize(
    ("actor", "message"),
    [
        (Unannotated, "Unannotated.on_add: the parameter 'message' has no message annotation"),
        (TwoForOne, "TwoForOne: on_add and on_plus both handle Increment"),
        (Unresolved, "Unresolved.on_add: its annotations do not resolve"),
        (NotAMessage, "NotAMessage.on_add: <class 'int'> is not a Message class"),
    ],
)
def test_a_broken_handler_fails_the_start_naming_the_method(
    actor: type[Actor], message: str, clock: ManualClock
) -> None:
    with pytest.raises(StartError, match=message.replace("(", r"\(").replace(")", r"\)")):
        start(lambda: actor(), clock)


def test_an_actor_class_given_as_factory_is_checked_when_the_spec_is_made() -> None:
    with pytest.raises(HandlerError, match="TwoForOne: on_add and on_plus both handle Increment"):
        ChildSpec("x", TwoForOne)


def test_a_subclass_overrides_a_handler_under_the_same_name(clock: ManualClock) -> None:
    runtime = start(Override, clock)
    try:
        assert runtime.ask("x", Increment(n=1)) == 2
    finally:
        runtime.stop()


def test_reply_returns_what_it_is_given_to_an_ask(clock: ManualClock) -> None:
    runtime = start(Echo, clock)
    try:
        assert runtime.ask("x", Increment(n=3)) == Increment(n=3)
        assert runtime.ask("x", Ping()) == Pong(actor="x")
    finally:
        runtime.stop()
