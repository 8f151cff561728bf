"""The hedge pair's journal store: small rows, one commit per write, synced only when asked."""

from __future__ import annotations

from pathlib import Path

from actors.stores.journal import Journal


def test_hedge_rows_load_in_write_order_and_a_write_puts_and_deletes_in_one_commit(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        store = journal.hedge
        store.write("hedge_b", [("answer", "T1", b"1"), ("answer", "T2", b"2")], synced=False)
        store.write("hedge_b", [("answer", "T1", b"1b")], delete=[("answer", "T2")], synced=True)
        store.write("hedge_a", [("fill", "T9", b"9")], synced=True)
        assert store.load("hedge_b", "answer") == [("T1", b"1b")]
        assert store.load("hedge_a", "fill") == [("T9", b"9")] and store.load("hedge_a", "answer") == []
        assert (store.synced_commits, store.relaxed_commits) == (2, 1)
    with Journal(tmp_path / "j.sqlite") as again:  # committed means on disk: a new connection reads it
        again.hedge.write("hedge_b", [("answer", "T3", b"3")], synced=False)
        assert [key for key, _ in again.hedge.load("hedge_b", "answer")] == ["T1", "T3"]
