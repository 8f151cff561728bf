"""The runtime that hosts actors: child specs, restart policy, name-based addressing, clocks."""

from supervisor.clock import Clock, ManualClock, SystemClock, Timer
from supervisor.errors import (
    ActorCrashedError,
    ActorError,
    ActorHungError,
    ActorStoppedError,
    AskTimeoutError,
    BlockingAskError,
    StartError,
    UnknownActorError,
)
from supervisor.runtime import Runtime
from supervisor.spec import ChildSpec, Supervisor

__all__ = [
    "ActorCrashedError",
    "ActorError",
    "ActorHungError",
    "ActorStoppedError",
    "AskTimeoutError",
    "BlockingAskError",
    "ChildSpec",
    "Clock",
    "ManualClock",
    "Runtime",
    "StartError",
    "Supervisor",
    "SystemClock",
    "Timer",
    "UnknownActorError",
]
