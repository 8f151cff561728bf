"""The built-in demo's strategies: sub-strategies that borrow and return capital, a treasurer that moves money.

They are ordinary extra actors, configured by import path in the demo's TOML exactly as a
desk's own strategies would be (``class = "actors.demo:DemoStrategy"``).
"""

from __future__ import annotations

from actors.base import Actor
from actors.requests import PendingRequests
from messages.balances import Allocate, BalanceView, LedgerReset, Release
from messages.common import AccountRef, currency_code, exchange_name
from messages.demo import DemoTick
from messages.system import Rejected
from messages.tasks import AddTransferTask
from messages.transfers import ChainCompleted, StartChain

__all__ = ["DemoStrategy", "DemoTreasurer"]


class DemoStrategy(Actor):
    """On each tick, borrows ``amount`` from the pool into its slot, or gives it back; re-requests after a reset.

    It waits for the gateway's answer at most ``reply_timeout`` seconds: the first tick after that
    asks again (an answer lost with a restarted gateway never stalls it).
    """

    def __init__(
        self, slot: int, exchange: str, account: str, currency: str, amount: float, reply_timeout: float = 10.0
    ) -> None:
        super().__init__()
        self.slot = slot
        self.exchange = exchange_name(exchange)
        self.account = account
        self.currency = currency_code(currency)
        self.amount = amount
        self.holding = 0.0
        self.reply_timeout = reply_timeout
        self.requests: PendingRequests[None] = PendingRequests()

    def on_demo_tick(self, message: DemoTick) -> None:
        now = self.clock.now()
        for request in self.requests.expired(now):
            self.log.warning("no answer from {} in {} s; asking again", request.to, self.reply_timeout)
        if self.requests.waiting():
            return
        kind = Release if self.holding >= self.amount else Allocate
        self.requests.open("gateway", "command", now + self.reply_timeout)
        self.tell(
            "gateway",
            kind(
                currency=self.currency,
                index=self.slot,
                amount=self.amount,
                strategy=self.name,
                exchange=self.exchange,
                account=self.account,
            ),
        )

    def on_balance_view(self, message: BalanceView) -> None:
        if self.requests.accept_from(self.sender, "command") is not None:
            self.holding = message.slots[self.slot]

    def on_rejected(self, message: Rejected) -> None:
        if self.requests.accept_from(self.sender, "command") is not None:
            self.log.info("the gateway said no: {}", message.reason)

    def on_ledger_reset(self, message: LedgerReset) -> None:
        if message.currency is self.currency:
            self.holding = 0.0
            for request in self.requests.waiting():
                self.requests.cancel(request.correlation_id)


class DemoTreasurer(Actor):
    """Submits a sweep between two accounts on every tick, and starts one chain on the first."""

    def __init__(
        self, sweep: list[list[str]], amount: float, currency: str, chain: list[list[str]], chain_amount: float
    ) -> None:
        super().__init__()
        self.sweep = [AccountRef(exchange_name(e), a) for e, a in sweep]
        self.amount = amount
        self.currency = currency_code(currency)
        self.chain = [AccountRef(exchange_name(e), a) for e, a in chain]
        self.chain_amount = chain_amount
        self.ticks = 0

    def on_demo_tick(self, message: DemoTick) -> None:
        if self.ticks == 0 and self.chain:
            self.tell(
                "chains",
                StartChain(
                    hops=self.chain,
                    currency=self.currency,
                    amount=self.chain_amount,
                    extra=f"actor:{self.name}",
                    chain_id="demo-chain",
                ),
            )
        source, destination = (self.sweep[0], self.sweep[1]) if self.ticks % 2 == 0 else (self.sweep[1], self.sweep[0])
        self.ticks += 1
        self.tell(
            "tasks",
            AddTransferTask(
                from_exchange=source.exchange,
                from_account=source.account,
                to_exchange=destination.exchange,
                to_account=destination.account,
                currency=self.currency,
                amount=self.amount,
            ),
        )

    def on_chain_completed(self, message: ChainCompleted) -> None:
        self.log.info(
            "chain {} delivered {} {} to {}",
            message.chain_id,
            message.amount_delivered,
            message.currency,
            message.final,
        )
