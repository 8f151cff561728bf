"""The interpreter's recursion limit stays at its default whatever the desk imports (the codec relies on it)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_every_venue_adapter_keeps_the_default_recursion_limit() -> None:
    code = (
        "import sys; before = sys.getrecursionlimit(); import desk.cli, actors.venues.lighter; "
        "print(before, sys.getrecursionlimit())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    before, after = map(int, done.stdout.split())
    assert after == before


def test_a_deeply_nested_command_is_a_decode_error_after_the_lighter_sdk_is_loaded() -> None:
    code = (
        "import actors.venues.lighter; from messages.commands import parse_command; "
        "from messages.codec import DecodeError\n"
        "try:\n    parse_command('[' * 200000 + ']' * 200000)\nexcept DecodeError as e:\n    print('refused', e)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("refused")
