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
    SupervisionError,
    UnknownActorError,
)
from supervisor.runtime import Runtime
from supervisor.spec import ChildSpec, Supervisor
from messages.supervision import ChildCount, ChildInfo, ChildState, ChildType, ExitReason

__all__ = [
    "ChildCount",
    "ChildInfo",
    "ChildState",
    "ChildType",
    "ExitReason",
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
    "SupervisionError",
    "Supervisor",
    "SystemClock",
    "Timer",
    "UnknownActorError",
]
