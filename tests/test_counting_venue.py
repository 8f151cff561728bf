"""The counting venue: the wrapped venue call for call, with its errors counted by kind."""

from __future__ import annotations

import pytest

from actors.venues.base import TradingVenue, VenueRejected, VenueTimeout, VenueUnavailable
from actors.venues.counting import CountingVenue
from actors.venues.simulated import SimulatedVenue
from messages.common import Currencies, Exchanges
from supervisor import ManualClock

K, USDC = Exchanges.KRAKEN, Currencies.USDC


def test_calls_pass_through_and_each_venue_error_is_counted_by_kind_then_raised() -> None:
    inner = SimulatedVenue(ManualClock(), balances={(K, "main"): {USDC: 100.0}})
    venue = CountingVenue(inner)
    assert isinstance(venue, TradingVenue) and venue.fetch_balance(K, "main") == {USDC: 100.0}
    assert venue.faults is inner.faults and venue.errors() == {}
    inner.faults.reject_next(1, "fetch_balance")
    with pytest.raises(VenueRejected):
        venue.fetch_balance(K, "main")
    inner.faults.timeout_next(2, "fetch_balance")
    for _ in range(2):
        with pytest.raises(VenueTimeout):
            venue.fetch_balance(K, "main")
    inner.faults.outage(5.0)
    with pytest.raises(VenueUnavailable):
        venue.fetch_deposits(K, "main")
    assert venue.errors() == {"VenueRejected": 1, "VenueTimeout": 2, "VenueUnavailable": 1}
