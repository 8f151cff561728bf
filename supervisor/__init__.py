"""The runtime that hosts actors: child specs, restart policy, name-based addressing, clocks."""

from messages.supervision import ChildCount, ChildInfo, ChildState, ChildType, ExitReason
from supervisor.clock import Clock, ManualClock, SystemClock, Timer
from supervisor.errors import (
    ActorCrashedError,
    ActorError,
    ActorHungError,
    ActorStoppedError,
    AskTimeoutError,
    BlockingAskError,
    StartError,
    SupervisionError,
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
    "ChildCount",
    "ChildInfo",
    "ChildSpec",
    "ChildState",
    "ChildType",
    "Clock",
    "ExitReason",
    "ManualClock",
    "Runtime",
    "StartError",
    "SupervisionError",
    "Supervisor",
    "SystemClock",
    "Timer",
    "UnknownActorError",
]
