"""Venues: the exchange interface (`Venue`) and the simulated exchange that ships with the product."""

from actors.venues.base import Venue, VenueError, VenueRejected, VenueTimeout, VenueUnavailable

__all__ = ["Venue", "VenueError", "VenueRejected", "VenueTimeout", "VenueUnavailable"]
