"""The exchanges a simulated desk runs against (`VenueWorld`): the simulated venue by default
(`SimulatedWorld`), or any world plugged in by import path (real adapters against local fakes).

A world builds the venue the actors use, makes the seed's venue faults (`faults`, the simulated
venue's `Faults` interface), and is the ground truth the invariants read: every balance, every
balance change (`audit`), conservation, and checks of its own (`extra_checks`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Protocol

from actors.stores.journal import TransferIntent
from actors.venues.simulated import Movement, SimulatedVenue
from desk.config import resolve_import
from desk.simulation.world import HEDGE_A, HEDGE_B, MONEY_ACCOUNTS, FaultClass
from desk.system import System
from messages.common import AccountRef, Currency, Exchange
from messages.trading import Fill
from supervisor.clock import ManualClock

__all__ = ["SimulatedWorld", "VenueWorld", "load_world"]


class VenueWorld(Protocol):
    """What a `Simulation` needs of the exchanges it runs the desk against.

    Lifecycle: `configure` edits the deployment's data before it is parsed, `venue` gives the
    venue to build the `System` with (None: the System builds the simulated one), `attach` sees
    the built System, `close` stops what the world started. Every random choice a world makes
    comes from ``rng`` given to `configure` (the seed's own stream for the world). `flush` delivers
    what the venue knows and has not pushed yet (fills a poll would bring): the desk is settled
    only when its mailboxes are empty and nothing is left to push; `in_motion` names the accounts
    whose changes the venue has and could not push yet (its feed is down): their ledgers may lag."""

    path: str  # the import path that builds this world ("" for the default), for the replay command
    unsupported: frozenset[FaultClass]  # fault classes this world cannot make
    settles_every_transfer: bool  # True: no transfer may stay unknown at the end (the venue dedupes a resend)
    instant: float  # the least step of the clock between two events the venue's timestamps tell apart
    hedge: tuple[AccountRef, AccountRef]  # where hedge A and B trade

    @property
    def faults(self) -> Any:
        """reject_next, timeout_next, ..., clear, fired: the simulated venue's `Faults` interface."""

    def configure(self, data: dict[str, Any], folder: Path, rng: random.Random, clock: ManualClock) -> None: ...

    def venue(self) -> Any: ...

    def attach(self, system: System) -> None: ...

    def money_pair(self, rng: random.Random) -> tuple[AccountRef, AccountRef]: ...

    def chain_hops(self, rng: random.Random) -> list[AccountRef]: ...

    def audit(self) -> list[Movement]: ...

    def all_balances(self) -> dict[tuple[Exchange, str], dict[Currency, float]]: ...

    def conservation_error(self) -> dict[Currency, float]: ...

    def lost_pushes(self) -> list[Fill]: ...

    def flush(self) -> int: ...

    def in_motion(self) -> set[tuple[Exchange, str]]: ...

    def extra_checks(self, intents: list[TransferIntent], final: bool) -> list[str]: ...

    def close(self) -> None: ...


class SimulatedWorld:
    """The simulated venue `System` builds from the deployment: its books are the ground truth."""

    path = ""
    unsupported: frozenset[FaultClass] = frozenset()
    settles_every_transfer = True
    instant = 0.0001
    hedge = (HEDGE_A, HEDGE_B)

    def __init__(self) -> None:
        self._venue: SimulatedVenue | None = None

    @property
    def sim(self) -> SimulatedVenue:
        assert self._venue is not None, "attach the world to its System first"
        return self._venue

    @property
    def faults(self) -> Any:
        return self.sim.faults

    def configure(self, data: dict[str, Any], folder: Path, rng: random.Random, clock: ManualClock) -> None:
        pass

    def venue(self) -> Any:
        return None

    def attach(self, system: System) -> None:
        self._venue = system.venue.venue  # the `CountingVenue` around it counts errors for the operator

    def money_pair(self, rng: random.Random) -> tuple[AccountRef, AccountRef]:
        source, destination = rng.sample(MONEY_ACCOUNTS, 2)
        return source, destination

    def chain_hops(self, rng: random.Random) -> list[AccountRef]:
        return rng.sample(MONEY_ACCOUNTS, rng.choice([3, 4]))

    def audit(self) -> list[Movement]:
        return self.sim.audit()

    def all_balances(self) -> dict[tuple[Exchange, str], dict[Currency, float]]:
        return self.sim.all_balances()

    def conservation_error(self) -> dict[Currency, float]:
        return self.sim.conservation_error()

    def lost_pushes(self) -> list[Fill]:
        return self.sim.lost_pushes()

    def flush(self) -> int:
        return 0  # the simulated venue pushes every fill as it happens

    def in_motion(self) -> set[tuple[Exchange, str]]:
        return set()  # what it could not push it counts as lost (`lost_pushes`)

    def extra_checks(self, intents: list[TransferIntent], final: bool) -> list[str]:
        return []

    def close(self) -> None:
        pass


def load_world(path: str) -> VenueWorld:
    """The world built by the callable at ``path`` (``"package.module:Name"``), or the default for ``""``."""
    if not path:
        return SimulatedWorld()
    world: VenueWorld = resolve_import(path, "--world")()
    world.path = path
    return world
