"""One venue shared by many processes: `VenueServer` serves a venue over ZeroMQ and `RemoteVenue`
is the `TradingVenue` an actor in another process calls instead (a REST + websocket API).
`wire` is the protocol between them; its method table is derived from `TradingVenue`."""

from actors.venues.remote.client import RemoteVenue
from actors.venues.remote.server import VenueServer

__all__ = ["RemoteVenue", "VenueServer"]
