"""The process-mode transport: the hub, a node's link to it and its direct links to other nodes, clients, the wire,
CurveZMQ keys, and process supervision.

It knows no actor and no deployment: `desk.processes` assembles a desk from these parts.
"""

from supervisor.transport.client import Client, ClientError, ClientUsageError, find_hub
from supervisor.transport.hub import Hub, HubNodeStatus
from supervisor.transport.link import NodeLink
from supervisor.transport.processes import ProcessRuntime

__all__ = [
    "Client",
    "ClientError",
    "ClientUsageError",
    "Hub",
    "HubNodeStatus",
    "NodeLink",
    "ProcessRuntime",
    "find_hub",
]
