"""The whole-desk deterministic simulation: one seed decides load, faults, crashes and interleavings.

Invariants are checked after every settled step; see `desk.simulation.harness`.
"""

from desk.simulation.harness import SimResult, Simulation, Violation, run_seed
from desk.simulation.world import FaultClass, SimOptions

__all__ = ["FaultClass", "SimOptions", "SimResult", "Simulation", "Violation", "run_seed"]
