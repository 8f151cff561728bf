"""What only the real adapters do: precision and minimums checked before sending, withdrawals
found in the history after a timeout (or reported unknown), errors mapped and scrubbed of
secrets, a dropped fill feed catching up."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import pytest

from actors.venues.base import VenueOutcomeUnknown, VenueRejected, VenueTimeout, VenueUnavailable
from actors.venues.ccxt_errors import Redactor, venue_error
from actors.venues.ccxt_venue import CcxtAccount, CcxtVenue
from actors.venues.kraken import kraken_client
from actors.venues.lighter import client_order_index
from actors.venues.mexc import MexcVenue, mexc_client
from messages.common import Currencies, Exchanges
from messages.trading import Fill, OrderStatus, OrderType, Side
from messages.venue import TransferStatus
from supervisor.clock import ManualClock
from tests.fakes.kraken import FakeKraken
from tests.fakes.mexc import FakeMexc
from tests.venue_harness import Harness, kraken, mexc


@pytest.fixture
def k(clock: ManualClock) -> Iterator[Harness]:
    h = kraken(clock)
    yield h
    h.close()


@pytest.fixture
def m(clock: ManualClock) -> Iterator[Harness]:
    h = mexc(clock)
    yield h
    h.close()


def fake_of(h: Harness) -> FakeKraken | FakeMexc:
    return next(c.__self__ for c in h.closers if isinstance(getattr(c, "__self__", None), FakeKraken | FakeMexc))


def test_a_quantity_is_rounded_to_the_market_step_before_sending(m: Harness) -> None:
    order = m.venue.create_order(
        Exchanges.MEXC, "main", "btc/usd", Side.BUY, OrderType.MARKET, 0.0123456789, None, "r1"
    )
    assert order.quantity == pytest.approx(0.012345)
    sent = [r for r in fake_of(m).requests if r.method == "POST" and r.path.endswith("/api/v3/order")]
    assert sent[0].query["quantity"] == "0.012345"


def test_a_quantity_below_the_market_minimum_is_refused_without_sending(k: Harness) -> None:
    order = k.venue.create_order(Exchanges.KRAKEN, "main", "btc/usd", Side.BUY, OrderType.MARKET, 0.00001, None, "tiny")
    assert order.status is OrderStatus.REJECTED and "below the market minimum" in order.reason
    assert not [r for r in fake_of(k).requests if r.path.endswith("/AddOrder")]


def test_a_withdrawal_below_the_exchange_minimum_is_refused_without_sending(m: Harness) -> None:
    result = m.venue.transfer("small", Exchanges.MEXC, "main", Exchanges.KRAKEN, "main", Currencies.USDT, 5.0)
    assert result.status is TransferStatus.FAILED and "below the withdrawal minimum 10" in result.reason
    assert not [r for r in fake_of(m).requests if r.path.endswith("/capital/withdraw")]


def test_a_withdrawal_without_a_configured_address_fails_naming_the_destination(k: Harness) -> None:
    result = k.venue.transfer("nowhere", Exchanges.KRAKEN, "main", Exchanges.LIGHTER, "hedge_a", Currencies.USDT, 50.0)
    assert result.status is TransferStatus.FAILED
    assert "no withdrawal address configured for usdt to lighter.hedge_a" in result.reason


def test_a_lost_withdrawal_stays_in_doubt_within_the_window_then_is_unknown_never_failed(k: Harness) -> None:
    fake_of(k).hang_before_next(1, "Withdraw")
    with pytest.raises(VenueTimeout):
        k.venue.transfer("lost", Exchanges.KRAKEN, "main", Exchanges.MEXC, "main", Currencies.USDT, 50.0)
    with pytest.raises(VenueTimeout) as in_doubt:
        k.venue.fetch_transfer("lost")
    assert not isinstance(in_doubt.value, VenueOutcomeUnknown)
    k.clock.advance(121.0)
    with pytest.raises(VenueOutcomeUnknown, match="never resend"):
        k.venue.fetch_transfer("lost")
    with pytest.raises(VenueOutcomeUnknown):  # asking to send it again does not send it
        k.venue.transfer("lost", Exchanges.KRAKEN, "main", Exchanges.MEXC, "main", Currencies.USDT, 50.0)
    assert len([r for r in fake_of(k).requests if r.path.endswith("/Withdraw")]) == 1


def test_two_timed_out_withdrawals_of_one_amount_match_two_different_history_entries(k: Harness) -> None:
    fake = fake_of(k)
    for client_id in ("twin-1", "twin-2"):
        fake.drop_next(1, "Withdraw")
        with pytest.raises(VenueTimeout):
            k.venue.transfer(client_id, Exchanges.KRAKEN, "main", Exchanges.MEXC, "main", Currencies.USDT, 40.0)
    first, second = k.venue.fetch_transfer("twin-1"), k.venue.fetch_transfer("twin-2")
    assert first is not None and second is not None
    assert first.status is second.status is TransferStatus.PENDING
    sent = [s for s in (k.venue.sent.get("twin-1"), k.venue.sent.get("twin-2")) if s is not None]  # type: ignore[attr-defined]
    assert len({s.exchange_id for s in sent}) == 2


def test_a_completed_withdrawal_reads_ok(k: Harness) -> None:
    k.venue.transfer("w-ok", Exchanges.KRAKEN, "main", Exchanges.MEXC, "main", Currencies.USDT, 30.0)
    fake_of(k).book.withdrawals[-1].status = "ok"
    result = k.venue.fetch_transfer("w-ok")
    assert result is not None and result.status is TransferStatus.OK


def test_a_kraken_transfer_between_accounts_is_asked_with_the_master_key_naming_each_side_by_iiban(
    k: Harness,
) -> None:
    result = k.venue.transfer("iiban", Exchanges.KRAKEN, "main", Exchanges.KRAKEN, "trade", Currencies.USDT, 25.0)
    assert result.status is TransferStatus.OK
    fake = fake_of(k)
    (sent,) = [r for r in fake.requests if r.path.endswith("/AccountTransfer")]
    assert sent.headers["API-Key"] == fake.master
    assert (sent.form["from"], sent.form["to"], sent.form["asset"]) == (
        "AA00 0000 0000 0001",
        "AA00 0000 0000 0002",
        "USDT",
    )


def test_a_lost_transfer_between_accounts_stays_in_doubt_within_the_window_then_is_unknown_never_failed(
    k: Harness,
) -> None:
    fake_of(k).hang_before_next(1, "AccountTransfer")
    with pytest.raises(VenueTimeout):
        k.venue.transfer("gone", Exchanges.KRAKEN, "main", Exchanges.KRAKEN, "trade", Currencies.USDT, 30.0)
    with pytest.raises(VenueTimeout) as in_doubt:
        k.venue.fetch_transfer("gone")
    assert not isinstance(in_doubt.value, VenueOutcomeUnknown)
    k.clock.advance(121.0)
    with pytest.raises(VenueOutcomeUnknown, match="transfer history"):
        k.venue.fetch_transfer("gone")
    with pytest.raises(VenueOutcomeUnknown):  # asking to send it again does not send it
        k.venue.transfer("gone", Exchanges.KRAKEN, "main", Exchanges.KRAKEN, "trade", Currencies.USDT, 30.0)
    assert len([r for r in fake_of(k).requests if r.path.endswith("/AccountTransfer")]) == 1


def test_two_timed_out_transfers_of_one_amount_match_two_different_ledger_entries(k: Harness) -> None:
    for client_id in ("pair-1", "pair-2"):
        fake_of(k).drop_next(1, "AccountTransfer")
        with pytest.raises(VenueTimeout):
            k.venue.transfer(client_id, Exchanges.KRAKEN, "main", Exchanges.KRAKEN, "trade", Currencies.USDT, 40.0)
    assert [k.venue.fetch_transfer(c).status for c in ("pair-1", "pair-2")] == [TransferStatus.OK] * 2  # type: ignore[union-attr]
    sent = [s for s in (k.venue.sent.get("pair-1"), k.venue.sent.get("pair-2")) if s is not None]  # type: ignore[attr-defined]
    assert len({s.exchange_id for s in sent}) == 2
    assert k.venue.fetch_balance(Exchanges.KRAKEN, "trade")[Currencies.USDT] == pytest.approx(80.0)


def test_a_mexc_transfer_that_timed_out_is_found_in_the_universal_transfer_history(m: Harness) -> None:
    fake = fake_of(m)
    m.venue.transfer("fund", Exchanges.MEXC, "main", Exchanges.MEXC, "trade", Currencies.USDT, 60.0)
    fake.hang_after_next(1, "/capital/sub-account/universalTransfer")
    with pytest.raises(VenueTimeout):
        m.venue.transfer("back", Exchanges.MEXC, "trade", Exchanges.MEXC, "main", Currencies.USDT, 10.0)
    found = m.venue.fetch_transfer("back")
    assert found is not None and found.status is TransferStatus.OK
    asked = [
        r for r in fake.requests if r.method == "GET" and r.path.endswith("/capital/sub-account/universalTransfer")
    ]
    assert asked and asked[-1].query["fromAccount"] == "desk-trade" and "toAccount" not in asked[-1].query
    assert m.venue.fetch_balance(Exchanges.MEXC, "trade")[Currencies.USDT] == pytest.approx(50.0)


def wallets(m: Harness) -> MexcVenue:
    """MEXC with the harness key's spot wallet as ``main`` and its futures wallet as ``futures``."""
    fake = fake_of(m)
    client = mexc_client("mexc-key-main", fake.secrets["mexc-key-main"], url=fake.url, timeout=3.0)
    client.enableRateLimit = False
    accounts = {"main": CcxtAccount(client), "futures": CcxtAccount(client, wallet="swap")}
    return MexcVenue(Exchanges.MEXC, accounts, clock=m.clock, markets=["btc/usd"], resolve_within=120.0)


def test_a_mexc_transfer_from_spot_to_futures_is_done_at_once_and_the_futures_wallet_reads_it(m: Harness) -> None:
    venue = wallets(m)
    result = venue.transfer("to-futures", Exchanges.MEXC, "main", Exchanges.MEXC, "futures", Currencies.USDT, 100.0)
    assert result.status is TransferStatus.OK
    assert venue.fetch_balance(Exchanges.MEXC, "futures") == {Currencies.USDT: pytest.approx(100.0)}
    assert venue.fetch_balance(Exchanges.MEXC, "main")[Currencies.USDT] == pytest.approx(400.0)
    (sent,) = [r for r in fake_of(m).requests if r.method == "POST" and r.path.endswith("/capital/transfer")]
    assert (sent.query["fromAccountType"], sent.query["toAccountType"]) == ("SPOT", "FUTURES")
    venue.close()


def test_a_mexc_wallet_transfer_that_timed_out_is_found_in_the_transfer_history(m: Harness) -> None:
    venue = wallets(m)
    fake_of(m).hang_after_next(1, "/capital/transfer")
    with pytest.raises(VenueTimeout):
        venue.transfer("lost-leg", Exchanges.MEXC, "main", Exchanges.MEXC, "futures", Currencies.USDT, 70.0)
    found = venue.fetch_transfer("lost-leg")
    assert found is not None and found.status is TransferStatus.OK
    venue.transfer("lost-leg", Exchanges.MEXC, "main", Exchanges.MEXC, "futures", Currencies.USDT, 70.0)
    assert venue.fetch_balance(Exchanges.MEXC, "futures")[Currencies.USDT] == pytest.approx(70.0)
    assert [r.method for r in fake_of(m).requests if r.path.endswith("/capital/transfer")] == ["POST", "GET"]
    venue.close()


def test_a_transfer_between_keys_without_a_master_account_fails_naming_the_setting(clock: ManualClock) -> None:
    fake = FakeKraken(clock.now).start()
    try:
        venue = CcxtVenue(
            Exchanges.KRAKEN,
            {
                "main": CcxtAccount(kraken_client("a", fake.add_key("a", {"USDT": 10.0}), url=fake.url)),
                "trade": CcxtAccount(kraken_client("b", fake.add_key("b"), url=fake.url)),
            },
            clock=clock,
        )
        result = venue.transfer("nomaster", Exchanges.KRAKEN, "main", Exchanges.KRAKEN, "trade", Currencies.USDT, 5.0)
        assert result.status is TransferStatus.FAILED and "different API keys" in result.reason
        venue.close()
    finally:
        fake.stop()


def test_an_order_answered_with_a_5xx_may_exist_so_it_is_a_timeout_and_is_looked_up(m: Harness) -> None:
    fake_of(m).fail_next(1, 502, "/api/v3/order")
    with pytest.raises(VenueTimeout, match="may have happened"):
        m.venue.create_order(Exchanges.MEXC, "main", "btc/usd", Side.BUY, OrderType.MARKET, 0.01, None, "5xx")
    assert m.venue.fetch_order_by_client_id(Exchanges.MEXC, "main", "5xx") is None  # this time it did not


def test_a_dropped_fill_feed_catches_up_with_what_it_missed(k: Harness) -> None:
    pushed: list[Fill] = []
    k.venue.subscribe_fills(Exchanges.KRAKEN, "main", pushed.append)
    k.venue.create_order(Exchanges.KRAKEN, "main", "btc/usd", Side.BUY, OrderType.MARKET, 0.01, None, "d1")
    fake_of(k).fail_next(3, 503, "TradesHistory")
    k.pump()  # the poll fails: the feed is down
    assert pushed == []
    k.venue.create_order(Exchanges.KRAKEN, "main", "btc/usd", Side.SELL, OrderType.MARKET, 0.01, None, "d2")
    for _ in range(4):
        k.pump()
    assert [f.side for f in pushed] == [Side.BUY, Side.SELL]


def test_errors_never_carry_the_api_key_secret_or_signature(m: Harness) -> None:
    fake = fake_of(m)
    fake.fail_next(10, 503)
    with pytest.raises(VenueUnavailable) as error:
        m.venue.fetch_balance(Exchanges.MEXC, "main")
    text = str(error.value)
    assert isinstance(m.venue, CcxtVenue)
    client = m.venue.accounts["main"].client
    assert "signature=***" in text
    assert client.secret not in text and client.apiKey not in text


@pytest.mark.parametrize(
    ("error", "write", "expected"),
    [
        (ccxt.RateLimitExceeded("slow down"), True, VenueRejected),
        (ccxt.DDoSProtection("slow down"), False, VenueRejected),
        (ccxt.RequestTimeout("late"), False, VenueTimeout),
        (ccxt.ExchangeNotAvailable("down"), False, VenueUnavailable),
        (ccxt.ExchangeNotAvailable("down"), True, VenueTimeout),
        (ccxt.NetworkError("reset"), True, VenueTimeout),
        (ccxt.AuthenticationError("bad key"), False, VenueRejected),
    ],
)
def test_ccxt_errors_map_to_the_venue_errors(error: Exception, write: bool, expected: type[Exception]) -> None:
    mapped = venue_error(error, "kraken call", write=write, redact=Redactor([]))
    assert type(mapped) is expected


def test_the_redactor_hides_secrets_and_signed_query_values() -> None:
    redact = Redactor(["supersecretvalue"])
    assert redact("GET /a?x=1&signature=abc123 key supersecretvalue") == "GET /a?x=1&signature=*** key ***"


def test_a_lighter_client_order_index_is_stable_and_within_48_bits() -> None:
    assert client_order_index("abc") == client_order_index("abc") != client_order_index("abd")
    assert 0 < client_order_index("abc") < 2**48
