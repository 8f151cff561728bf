"""The simulated exchange world: one seeded, deterministic `Venue` with exchanges, accounts and markets.

Used for paper trading, demos, tests and the whole-desk simulation. It moves money, trades on
seeded random-walk prices, pushes fills like a websocket, injects faults on demand and audits
every balance change, so a test can prove that no money was created or lost. One job per module:
`faults`, `market` (the price walk), `audit` (balances and every change), `transfers`, `orders`
(and their pushed fills), and `venue` (the `SimulatedVenue` that holds the lock and the API).
"""

from actors.venues.base import Subscription
from actors.venues.simulated.audit import Movement, MovementKind
from actors.venues.simulated.faults import Faults, SimulatedCrash
from actors.venues.simulated.market import MarketSpec
from actors.venues.simulated.transfers import Route
from actors.venues.simulated.venue import SimulatedVenue

__all__ = [
    "Faults",
    "MarketSpec",
    "Movement",
    "MovementKind",
    "Route",
    "SimulatedCrash",
    "SimulatedVenue",
    "Subscription",
]
