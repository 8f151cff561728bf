"""The operator's web dashboard and HTTP API, served by the running system (see README, "Operator's dashboard")."""

from desk.web.server import Dashboard, read_web_record
from desk.web.source import InProcessSource, ProcessSource, Source

__all__ = ["Dashboard", "InProcessSource", "ProcessSource", "Source", "read_web_record"]
