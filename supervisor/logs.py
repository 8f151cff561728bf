"""Log setup for programs (bin/run, node processes): one compact loguru line per event, tagged by actor."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

__all__ = ["configure_logging", "log_to_file"]

FORMAT = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> <cyan>{extra[actor]: <10}</cyan> {message}"


def configure_logging(level: str = "INFO") -> None:
    """Replace loguru's default sink with a compact one on stderr (no variable dumps in tracebacks)."""
    logger.remove()
    logger.configure(extra={"actor": "-"})
    # Write to whatever sys.stderr is at the time (not the object it is now), so a program or
    # test that swaps stderr later does not leave loguru writing to a dead stream.
    logger.add(
        _to_stderr, level=level.upper(), format=FORMAT, colorize=sys.stderr.isatty(), backtrace=False, diagnose=False
    )


def _to_stderr(message: str) -> None:
    sys.stderr.write(message)


FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {extra[actor]: <10} {message}"


def log_to_file(path: Path, level: str = "INFO", rotation: str = "20 MB", retention: int = 5) -> None:
    """Also write the log to ``path``, rotated by loguru when it reaches ``rotation`` (``retention`` old files kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger.add(
        path,
        level=level.upper(),
        format=FILE_FORMAT,
        rotation=rotation,
        retention=retention,
        backtrace=False,
        diagnose=False,
    )
