"""The money jobs assembled in-process for integration tests: venue, gateway, tasks, executors, journal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.base import Actor
from actors.chains import ChainExecutor
from actors.gateway import Gateway, GatewayAccount
from actors.stores.board import InMemoryBoard
from actors.stores.journal import Journal
from actors.tasks import TaskManagerActor
from actors.transfers import TransferExecutor
from actors.venues.base import VenueOutcomeUnknown
from actors.venues.simulated import Route, SimulatedVenue
from messages.balances import BalanceView, GetBalances
from messages.base import Message
from messages.common import Currencies, Currency, Exchange, Exchanges
from messages.tasks import GetTasks, PendingTasks
from messages.transfers import AdvanceChains, Chains, GetChains, RunTransfers, TransfersRun
from messages.venue import Deposit, TransferResult
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from supervisor.mailbox import Envelope, Reply

K, M = Exchanges.KRAKEN, Exchanges.MEXC
USDC = Currencies.USDC


def ask_as(runtime: Runtime, sender: str, name: str, message: Message, timeout: float = 5.0) -> Any:
    """Ask ``name`` as if actor ``sender`` asked: how a test hands an actor-only message to an actor."""
    reply = Reply()
    assert runtime.deliver(name, Envelope(message, sender, reply)), f"{name} is not running"
    return reply.wait(timeout)


class Forgetful:
    """The simulated venue, except that it has no record of the client ids in ``hidden`` (a lagging index)."""

    def __init__(self, inner: SimulatedVenue) -> None:
        self.inner = inner
        self.hidden: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        return None if client_id in self.hidden else self.inner.fetch_transfer(client_id)

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        return [d for d in self.inner.fetch_deposits(exchange, account) if d.client_id not in self.hidden]

    def transfer(self, client_id: str, *args: Any) -> TransferResult:
        """A hidden id cannot be answered on a repeat either (an adapter that cannot promise idempotence)."""
        if client_id in self.hidden and self.inner.fetch_transfer(client_id) is not None:
            raise VenueOutcomeUnknown(f"{client_id}: no record of it, and it cannot be sent again safely")
        return self.inner.transfer(client_id, *args)


class Collector(Actor):
    """Records every message told to it (a stand-in for a strategy or an operator)."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox

    def on_message(self, message: Message) -> None:
        self.inbox.add(message)


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, message: Message) -> None:
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def of(self, kind: type) -> list[Any]:
        with self.changed:
            return [m for m in self.messages if isinstance(m, kind)]

    def wait_for(self, kind: type, count: int, timeout: float = 5.0) -> list[Any]:
        with self.changed:
            ok = self.changed.wait_for(lambda: len([m for m in self.messages if isinstance(m, kind)]) >= count, timeout)
        assert ok, f"expected {count} {kind.__name__}, got {len(self.of(kind))}"
        return self.of(kind)


class MoneySystem:
    """One in-process deployment of the money jobs on a manual clock."""

    def __init__(
        self,
        tmp_path: Path,
        clock: ManualClock,
        balances: Mapping[tuple[Exchange, str], Mapping[Currency, float]],
        *,
        routes: Mapping[tuple[Exchange, Exchange], Route] | None = None,
        strategies: Mapping[int, str] | None = None,
        executor: Callable[..., TransferExecutor] = TransferExecutor,
        tasks: Callable[..., TaskManagerActor] = TaskManagerActor,
        gateway: Callable[..., Gateway] = Gateway,
        chain_executor: Callable[..., ChainExecutor] = ChainExecutor,
        follow_ups: Mapping[str, Callable[[Any], None]] | None = None,
        journal_path: Path | None = None,
        venue: SimulatedVenue | None = None,
        extra_children: Sequence[ChildSpec] = (),
    ) -> None:
        self.clock = clock
        self.venue = venue or SimulatedVenue(
            clock, seed=7, balances=balances, routes=routes, default_route=Route(600.0, 1.0)
        )
        self.board = InMemoryBoard()
        self.journal_path = journal_path or tmp_path / "journal.sqlite"
        self.journal = Journal(self.journal_path)
        self.inbox = Inbox()
        accounts = [GatewayAccount(ex, acct, currencies=(USDC,)) for ex, acct in balances]
        venue, board, journal, inbox = self.venue, self.board, self.journal, self.inbox
        self.runtime = Runtime(
            Supervisor(
                [
                    ChildSpec("gateway", lambda: gateway(venue, board, accounts, strategies or {})),
                    ChildSpec("tasks", lambda: tasks(journal=journal)),
                    ChildSpec("transfers", lambda: executor(venue, board, journal, follow_ups=follow_ups)),
                    ChildSpec("chains", lambda: chain_executor(venue, journal, follow_ups=follow_ups)),
                    ChildSpec("collector", lambda: Collector(inbox)),
                    *extra_children,
                ],
                backoff=(0.0, 0.0),
                intensity=10,
            ),
            clock=clock,
        )
        self.runtime.start()
        self._runs = 0

    def stop(self, close_venue: bool = True) -> None:
        self.runtime.stop()
        self.journal.close()
        if close_venue:
            self.venue.close()

    def run_transfers(self) -> TransfersRun:
        """One executor run, waited for."""
        self._runs += 1
        self.runtime.tell("transfers", RunTransfers(reason="test", reply_to="collector"))
        summary = self.inbox.wait_for(TransfersRun, self._runs)[-1]
        self.runtime.ask("gateway", GetBalances())  # the run's Adjusts are applied once this answers
        return summary

    def advance_chains(self) -> Chains:
        self.runtime.tell("chains", AdvanceChains())
        return self.runtime.ask("chains", GetChains())  # type: ignore[no-any-return]

    def drive(self, done: Callable[[], bool], step: float = 60.0, rounds: int = 50) -> int:
        """Run transfers and chains, moving the clock ``step`` seconds between rounds, until ``done``."""
        for round_ in range(rounds):
            self.run_transfers()
            self.advance_chains()
            self.run_transfers()
            if done():
                return round_
            self.clock.advance(step)
        raise AssertionError("the system did not get there")

    def view(self, exchange: Exchange, account: str, currency: Currency = USDC) -> BalanceView:
        view = self.board.read(exchange, account, currency)
        assert view is not None, f"no ledger for {exchange}.{account}"
        return view

    def pending(self) -> PendingTasks:
        return self.runtime.ask("tasks", GetTasks())  # type: ignore[no-any-return]

    def ledgers_match_venue(self) -> None:
        """Every ledger total equals the venue's balance (to the cent)."""
        for (exchange, account), balance in self.venue.all_balances().items():
            for currency, amount in balance.items():
                view = self.board.read(exchange, account, currency)
                if view is not None:
                    assert abs(view.total - amount) < 0.005, (
                        f"{exchange}.{account} {currency}: {view.total} != {amount}"
                    )

    def conserved(self) -> None:
        assert all(abs(error) < 0.005 for error in self.venue.conservation_error().values())
