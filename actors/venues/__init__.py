"""Venues: the exchange interfaces (`Venue`, `TradingVenue`) and the simulated exchange shipped with the product."""

from actors.venues.base import (
    FillSubscription,
    TradingVenue,
    Venue,
    VenueError,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
)
from actors.venues.simulated import MarketSpec, Route, SimulatedVenue

__all__ = [
    "FillSubscription",
    "MarketSpec",
    "Route",
    "SimulatedVenue",
    "TradingVenue",
    "Venue",
    "VenueError",
    "VenueRejected",
    "VenueTimeout",
    "VenueUnavailable",
]
