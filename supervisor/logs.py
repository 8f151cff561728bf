"""Log setup for programs (bin/run, node processes): one compact loguru line per event, tagged by actor."""

from __future__ import annotations

import sys

from loguru import logger

__all__ = ["configure_logging"]

FORMAT = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> <cyan>{extra[actor]: <10}</cyan> {message}"


def configure_logging(level: str = "INFO") -> None:
    """Replace loguru's default sink with a compact one on stderr (no variable dumps in tracebacks)."""
    logger.remove()
    logger.configure(extra={"actor": "-"})
    logger.add(sys.stderr, level=level.upper(), format=FORMAT, backtrace=False, diagnose=False)
