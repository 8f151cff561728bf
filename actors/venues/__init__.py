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
from actors.venues.remote import RemoteVenue, VenueServer
from actors.venues.simulated import MarketSpec, Route, SimulatedVenue

__all__ = [
    "FillSubscription",
    "MarketSpec",
    "RemoteVenue",
    "Route",
    "SimulatedVenue",
    "TradingVenue",
    "Venue",
    "VenueError",
    "VenueRejected",
    "VenueServer",
    "VenueTimeout",
    "VenueUnavailable",
]
