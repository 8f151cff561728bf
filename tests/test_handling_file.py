"""The handling file: what a node incarnation had done and had in hand, readable after it is gone."""

from __future__ import annotations

from pathlib import Path

from supervisor.transport.handling import HandlingFile, handling_path, read_handling


def test_the_file_says_what_was_done_and_which_delivery_was_in_hand(tmp_path: Path) -> None:
    path = handling_path(tmp_path / "handling", "b", 1234)
    writer = HandlingFile(path, slots=3)
    for seq in (1, 2, 3):  # the hub's path: three handled
        writer.handling(0, seq)
        writer.done(0, seq)
    writer.reset(2, incarnation=99)  # a peer's direct link
    writer.handling(2, 1)
    writer.done(2, 1)
    writer.handling(2, 2)  # in hand when the process died: no done, no close
    hub, unused, peer = read_handling(path) or []
    assert (hub.done, hub.was_handling(3), hub.was_handling(4)) == (3, False, False)
    assert (unused.incarnation, unused.done, unused.handling) == (0, 0, 0)
    assert (peer.incarnation, peer.done, peer.was_handling(2), peer.was_handling(3)) == (99, 1, True, False)
    assert not path.exists()  # read once: the supervisor removes it
    writer.close(remove=False)


def test_a_process_that_left_no_file_is_none(tmp_path: Path) -> None:
    assert read_handling(tmp_path / "b.1") is None
