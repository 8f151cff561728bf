"""The shared-memory balance board: layout round trip, limits, discovery, readers in other processes, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.stores.board import BalanceBoard, StrategyBalanceManager, install_board, installed_board
from actors.stores.shm_board import (
    ACCOUNT_BYTES,
    HEADER_SIZE,
    MAX_SLOTS,
    RECORD_NAME,
    BoardCapacityError,
    BoardClosedError,
    BoardNotFoundError,
    BoardReadOnlyError,
    SharedMemoryBoard,
    find_board,
    require_board,
    well_known_record,
)
from messages import Currencies, Exchanges
from messages.balances import BalanceView
from tests.test_board import row

KRAKEN, MEXC = Exchanges.KRAKEN, Exchanges.MEXC
USDC, BTC = Currencies.USDC, Currencies.BTC
SHM = Path("/dev/shm")
REPO = Path(__file__).resolve().parent.parent

needs_dev_shm = pytest.mark.skipif(not SHM.is_dir(), reason="segments are files in /dev/shm on Linux only")


@pytest.fixture(autouse=True)
def private_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test (and every process it starts) keeps its well-known record under tmp_path, not the user's."""
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    monkeypatch.delenv("TREASURY_RUNTIME", raising=False)
    previous = installed_board()
    install_board(None)
    yield
    install_board(previous)


@pytest.fixture
def writer() -> Iterator[SharedMemoryBoard]:
    with SharedMemoryBoard.create(capacity=16) as board:
        yield board


def python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (logging off) and return what it printed."""
    prelude = "from loguru import logger\nlogger.remove()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def finished_pid() -> int:
    """The pid of a process that has exited (and been reaped): no process has it right now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


# ---- the BalanceBoard interface over shared memory ---------------------------------------------------


def test_every_field_round_trips_through_shared_memory(writer: SharedMemoryBoard) -> None:
    wide = BalanceView(
        exchange=MEXC,
        account="close_position",
        currency=BTC,
        slots=tuple(float(i) * 0.125 for i in range(MAX_SLOTS)),
        credit_limit=-2.5e-9,
        updated_at=1_700_000_000.123456,
    )
    narrow = BalanceView(
        exchange=KRAKEN, account="ü" * 64, currency=USDC, slots=(1e300, -1e300), credit_limit=250_000.0, updated_at=0.0
    )
    writer.publish(wide)
    writer.publish(narrow)
    reader = SharedMemoryBoard.attach(writer.name)
    try:
        assert reader.read(MEXC, "close_position", BTC) == wide
        assert reader.read(KRAKEN, "ü" * 64, USDC) == narrow
        assert sorted(reader.views(), key=lambda v: v.exchange) == [narrow, wide]
        assert type(reader.read(MEXC, "close_position", BTC).exchange) is str  # type: ignore[union-attr]
    finally:
        reader.close()


def test_the_writer_reads_back_the_very_view_it_published(writer: SharedMemoryBoard) -> None:
    view = row(100.0, 30.0)
    writer.publish(view)
    assert writer.read(KRAKEN, "main", USDC) is view
    assert writer.read(KRAKEN, "main", BTC) is None


def test_a_reader_sees_rows_added_and_rewritten_after_it_attached(writer: SharedMemoryBoard) -> None:
    reader = SharedMemoryBoard.attach(writer.name)
    assert reader.read(KRAKEN, "main", USDC) is None and reader.views() == []
    writer.publish(row(100.0))
    assert reader.read(KRAKEN, "main", USDC) == row(100.0)
    first = reader.read(KRAKEN, "main", USDC)
    assert reader.read(KRAKEN, "main", USDC) is first  # unchanged rows are not copied again
    writer.publish(row(90.0, 10.0))
    writer.publish(row(5.0, currency=BTC))
    assert reader.read(KRAKEN, "main", USDC) == row(90.0, 10.0)
    assert sorted(v.total for v in reader.views()) == [5.0, 90.0]
    reader.close()


def test_default_accounts_are_per_exchange_and_can_change(writer: SharedMemoryBoard) -> None:
    reader = SharedMemoryBoard.attach(writer.name)
    assert reader.default_account(KRAKEN) is None
    writer.set_default_account(KRAKEN, "main")
    writer.set_default_account(MEXC, "spot")
    assert (reader.default_account(KRAKEN), reader.default_account(MEXC)) == ("main", "spot")
    writer.set_default_account(KRAKEN, "trade")
    assert (reader.default_account(KRAKEN), reader.default_account(MEXC)) == ("trade", "spot")
    assert writer.default_account(KRAKEN) == "trade"
    reader.close()


def test_the_shared_memory_board_is_a_balance_board(writer: SharedMemoryBoard) -> None:
    assert isinstance(writer, BalanceBoard)


def test_the_manager_reads_the_shared_memory_board_as_the_seed_did(writer: SharedMemoryBoard) -> None:
    writer.set_default_account(KRAKEN, "main")
    writer.publish(row(1000.0, 100.0, 50.0))
    reader = SharedMemoryBoard.attach(writer.name)
    manager = StrategyBalanceManager(KRAKEN, strategy_count=8, board=reader)
    assert [manager.get_balance(USDC, i) for i in range(4)] == [1000.0, 850.0, 100.0, 50.0]
    assert manager.get_balance(BTC, 2) == 0.0
    reader.close()


def test_an_attached_board_only_reads(writer: SharedMemoryBoard) -> None:
    reader = SharedMemoryBoard.attach(writer.name)
    with pytest.raises(BoardReadOnlyError, match=f"only its writer \\(pid {os.getpid()}\\) publishes"):
        reader.publish(row(1.0))
    with pytest.raises(BoardReadOnlyError):
        reader.set_default_account(KRAKEN, "main")
    with pytest.raises(BoardReadOnlyError):
        reader.unlink()
    assert writer.read(KRAKEN, "main", USDC) is None
    reader.close()


def test_a_segment_that_is_not_a_board_is_refused() -> None:
    from multiprocessing.shared_memory import SharedMemory

    other = SharedMemory(create=True, size=4096)
    try:
        with pytest.raises(ValueError, match="is not a balance board"):
            SharedMemoryBoard.attach(other.name)
    finally:
        other.close()
        other.unlink()


# ---- limits -------------------------------------------------------------------------------------------


def test_a_full_board_says_how_many_rows_it_holds() -> None:
    with SharedMemoryBoard.create(capacity=2) as board:
        board.publish(row(1.0, account="a"))
        board.publish(row(2.0, account="b"))
        board.publish(row(3.0, account="a"))  # rewriting a row takes no room
        with pytest.raises(BoardCapacityError, match="is full: all 2 rows .* kraken.c usdc cannot be added"):
            board.publish(row(4.0, account="c"))
        assert [v.total for v in board.views()] == [3.0, 2.0]


def test_an_account_name_longer_than_the_layout_holds_is_refused(writer: SharedMemoryBoard) -> None:
    writer.publish(row(1.0, account="x" * ACCOUNT_BYTES))
    with pytest.raises(
        BoardCapacityError, match=f"takes {ACCOUNT_BYTES + 1} bytes of UTF-8, the board holds 1..{ACCOUNT_BYTES} bytes"
    ):
        writer.publish(row(1.0, account="x" * (ACCOUNT_BYTES + 1)))
    with pytest.raises(BoardCapacityError, match="account name"):
        writer.set_default_account(KRAKEN, "é" * ACCOUNT_BYTES)
    assert len(writer.views()) == 1


def test_more_than_64_slots_is_refused(writer: SharedMemoryBoard) -> None:
    with pytest.raises(BoardCapacityError, match="a row holds 1..64 slots; kraken.main usdc has 65"):
        writer.publish(row(1.0, slots=65))


@pytest.mark.parametrize("capacity", [0, 2**20 + 1])
def test_a_capacity_outside_the_limits_is_refused(capacity: int) -> None:
    with pytest.raises(BoardCapacityError, match="capacity must be 1..1048576 rows"):
        SharedMemoryBoard.create(capacity=capacity)


# ---- discovery ------------------------------------------------------------------------------------------


def test_a_writer_with_a_runtime_folder_records_its_board_in_both_places(tmp_path: Path) -> None:
    with SharedMemoryBoard.create(runtime_folder=tmp_path / "run") as board:
        for path in (tmp_path / "run" / RECORD_NAME, well_known_record()):
            record = json.loads(path.read_text())
            assert (record["segment"], record["pid"]) == (board.name, os.getpid())
            assert path.stat().st_mode & 0o777 == 0o600
        assert well_known_record().parent.stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "run" / RECORD_NAME).exists() and not well_known_record().exists()


def test_the_well_known_record_falls_back_to_a_private_folder_in_the_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert well_known_record() == tmp_path / f"treasury-actors-{os.getuid()}" / "current-board.json"


def test_find_board_looks_in_the_folder_given_then_treasury_runtime_then_the_well_known_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        SharedMemoryBoard.create(runtime_folder=tmp_path / "a") as first,
        SharedMemoryBoard.create(runtime_folder=tmp_path / "b") as second,
    ):
        assert _found_name(None) == second.name  # the well-known record names the latest writer
        monkeypatch.setenv("TREASURY_RUNTIME", str(tmp_path / "a"))
        assert _found_name(None) == first.name
        assert _found_name(tmp_path / "b") == second.name


def _found_name(folder: Path | None) -> str | None:
    board = find_board(folder)
    if board is None:
        return None
    board.close()
    return board.name


def test_a_record_whose_writer_is_not_running_is_ignored(tmp_path: Path, writer: SharedMemoryBoard) -> None:
    (tmp_path / RECORD_NAME).write_text(json.dumps({"segment": writer.name, "pid": finished_pid()}))
    assert find_board(tmp_path) is None
    with pytest.raises(
        BoardNotFoundError,
        match=r"board.json \(the runtime folder given\): stale record: "
        r"writer pid \d+ is not running",
    ):
        require_board(tmp_path)


def test_a_record_whose_segment_is_gone_is_ignored(tmp_path: Path) -> None:
    (tmp_path / RECORD_NAME).write_text(json.dumps({"segment": "ta-board-gone", "pid": os.getpid()}))
    with pytest.raises(BoardNotFoundError, match="stale record: segment ta-board-gone is gone"):
        require_board(tmp_path)


def test_a_record_naming_another_writers_segment_is_ignored(tmp_path: Path, writer: SharedMemoryBoard) -> None:
    (tmp_path / RECORD_NAME).write_text(json.dumps({"segment": writer.name, "pid": os.getppid()}))
    with pytest.raises(BoardNotFoundError, match=f"segment {writer.name} belongs to pid {os.getpid()}"):
        require_board(tmp_path)


def test_an_unreadable_record_is_ignored(tmp_path: Path) -> None:
    (tmp_path / RECORD_NAME).write_text("{not json")
    with pytest.raises(BoardNotFoundError, match="unusable record"):
        require_board(tmp_path)


def test_a_well_known_folder_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    with SharedMemoryBoard.create(runtime_folder=tmp_path / "run"):
        well_known_record().parent.chmod(0o777)
        with pytest.raises(BoardNotFoundError, match="must be a folder owned by uid .* with mode 0700"):
            require_board()


def test_closing_a_writer_leaves_a_newer_writers_record_alone(tmp_path: Path) -> None:
    older = SharedMemoryBoard.create(runtime_folder=tmp_path / "old")
    with SharedMemoryBoard.create(runtime_folder=tmp_path / "new") as newer:
        older.close()
        assert json.loads(well_known_record().read_text())["segment"] == newer.name
        assert not (tmp_path / "old" / RECORD_NAME).exists()


def test_a_manager_given_nothing_finds_the_running_board_through_treasury_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SharedMemoryBoard.create(runtime_folder=tmp_path) as board:
        board.set_default_account(KRAKEN, "main")
        board.publish(row(70.0, 20.0))
        monkeypatch.setenv("TREASURY_RUNTIME", str(tmp_path))
        manager = StrategyBalanceManager(KRAKEN, strategy_count=8)
        assert isinstance(manager.board, SharedMemoryBoard) and not manager.board.is_writer
        assert (manager.get_balance(USDC, 0), manager.get_balance(USDC, 2)) == (70.0, 20.0)


def test_a_manager_that_finds_no_board_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREASURY_RUNTIME", str(tmp_path))
    with pytest.raises(
        BoardNotFoundError,
        match=f"no balance board is installed in this process.*"
        f"{tmp_path / RECORD_NAME} \\(\\$TREASURY_RUNTIME\\): no record",
    ):
        StrategyBalanceManager(KRAKEN)


# ---- a writer that goes away --------------------------------------------------------------------------


def test_a_found_board_follows_a_restarted_writer(tmp_path: Path) -> None:
    first = SharedMemoryBoard.create(runtime_folder=tmp_path)
    first.publish(row(1.0))
    reader = find_board(tmp_path)
    assert reader is not None and reader.read(KRAKEN, "main", USDC) == row(1.0)
    first.close()
    with SharedMemoryBoard.create(runtime_folder=tmp_path) as second:
        second.set_default_account(KRAKEN, "main")
        second.publish(row(2.0))
        assert reader.read(KRAKEN, "main", USDC) == row(2.0)
        assert reader.name == second.name and reader.default_account(KRAKEN) == "main"
    reader.close()


def test_a_found_board_whose_writer_closed_with_no_successor_says_where_it_looked(tmp_path: Path) -> None:
    writer = SharedMemoryBoard.create(runtime_folder=tmp_path)
    writer.publish(row(1.0))
    reader = find_board(tmp_path)
    assert reader is not None
    writer.close()
    with pytest.raises(
        BoardClosedError,
        match=f"its writer \\(pid {os.getpid()}\\) closed it, and no running "
        f"board replaces it yet .*{RECORD_NAME} .*: no record",
    ):
        reader.read(KRAKEN, "main", USDC)
    reader.close()


def test_an_attached_board_whose_writer_closed_raises_instead_of_reading_old_values(writer: SharedMemoryBoard) -> None:
    writer.set_default_account(KRAKEN, "main")
    writer.publish(row(1.0))
    reader = SharedMemoryBoard.attach(writer.name)
    assert reader.read(KRAKEN, "main", USDC) == row(1.0)
    writer.close()
    with pytest.raises(BoardClosedError, match="closed it; attach to the new board"):
        reader.read(KRAKEN, "main", USDC)
    with pytest.raises(BoardClosedError):
        reader.default_account(KRAKEN)
    reader.close()


def test_a_closed_board_refuses_every_use(writer: SharedMemoryBoard) -> None:
    reader = SharedMemoryBoard.attach(writer.name)
    reader.close()
    reader.close()  # twice is fine
    with pytest.raises(BoardClosedError, match="was closed in this process"):
        reader.read(KRAKEN, "main", USDC)
    writer.close()
    with pytest.raises(BoardClosedError, match="was closed in this process"):
        writer.publish(row(1.0))


def test_a_row_the_writer_stays_inside_times_out_instead_of_spinning_forever(
    writer: SharedMemoryBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.publish(row(1.0))
    reader = SharedMemoryBoard.attach(writer.name)
    monkeypatch.setattr(SharedMemoryBoard, "busy_timeout", 0.01)
    offset = HEADER_SIZE  # the first row's sequence
    writer._buf[offset] += 1  # the sequence is odd: as if the writer died mid-write
    with pytest.raises(TimeoutError, match="has been writing row kraken.main usdc for over 0.01 s"):
        reader.read(KRAKEN, "main", USDC)
    assert reader.read_retries > 0
    writer._buf[offset] -= 1
    assert reader.read(KRAKEN, "main", USDC) == row(1.0)
    reader.close()


# ---- other processes --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_reader_process_finds_the_board_and_reads_what_the_writer_published(tmp_path: Path) -> None:
    read_balances = """
        import json
        from messages import Currencies, Currency, Exchange, Exchanges
        from actors.stores.board import StrategyBalanceManager
        manager = StrategyBalanceManager(Exchanges.KRAKEN, strategy_count=8)
        print(json.dumps([manager.board.name, manager.account, manager.get(Currencies.USDC).credit_limit,
                          [manager.get_balance(Currencies.USDC, i) for i in range(8)]]))
    """
    with SharedMemoryBoard.create(runtime_folder=tmp_path) as board:
        board.set_default_account(KRAKEN, "main")
        board.publish(
            BalanceView(
                exchange=KRAKEN,
                account="main",
                currency=USDC,
                slots=(1000.0, 850.0, 100.0, 50.0, 0.0, 0.0, 0.0, 0.0),
                credit_limit=500.0,
            )
        )
        expected = [board.name, "main", 500.0, [1000.0, 850.0, 100.0, 50.0, 0.0, 0.0, 0.0, 0.0]]
        through_env = python(read_balances, env={"TREASURY_RUNTIME": str(tmp_path)})
        through_record = python(read_balances)  # only the well-known record ($XDG_RUNTIME_DIR)
    assert json.loads(through_env.stdout) == expected, through_env.stderr
    assert json.loads(through_record.stdout) == expected, through_record.stderr


@pytest.mark.slow
def test_readers_in_another_process_never_see_a_torn_row(writer: SharedMemoryBoard) -> None:
    """The reader checks slot0 == sum(slots 1..) and updated_at == slot 1 on every read while we rewrite the row."""
    writer.publish(_generation(0))
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import json, time
        from messages import Currencies, Currency, Exchange, Exchanges
        from actors.stores.shm_board import SharedMemoryBoard
        board = SharedMemoryBoard.attach({writer.name!r})
        reads = torn = 0
        seen = set()
        deadline = time.monotonic() + 60
        while (reads < 100000 or board.read_retries < 10 or len(seen) < 1000) and time.monotonic() < deadline:
            view = board.read(Exchanges.KRAKEN, "main", Currencies.USDC)
            reads += 1
            torn += view.slots[0] != sum(view.slots[1:]) or view.updated_at != view.slots[1]
            seen.add(view.updated_at)
        print(json.dumps({{"reads": reads, "torn": torn, "seen": len(seen), "retries": board.read_retries}}))
    """),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    generation = 0
    while reader.poll() is None:
        generation += 1
        writer.publish(_generation(generation))
    out, _ = reader.communicate(timeout=10)
    result = json.loads(out)
    assert result["torn"] == 0
    assert result["seen"] >= 1000 and result["retries"] >= 10, result  # the reads really raced the writes


def _generation(n: int) -> BalanceView:
    """A 64-slot row whose every slot changes with ``n`` and whose total is exact."""
    subs = [float(n)] + [float((n * 7 + k) % 1000) for k in range(MAX_SLOTS - 2)]
    return BalanceView(exchange=KRAKEN, account="main", currency=USDC, slots=(sum(subs), *subs), updated_at=float(n))


@pytest.mark.slow
@needs_dev_shm
def test_nothing_is_left_in_dev_shm_after_the_writer_stops(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys
        from actors.stores.shm_board import SharedMemoryBoard
        board = SharedMemoryBoard.create(runtime_folder={str(tmp_path)!r})
        print(board.name, flush=True)
        sys.stdin.readline()
        board.close()
    """),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    name = writer.stdout.readline().strip()
    assert (SHM / name).exists() and (tmp_path / RECORD_NAME).exists()
    _, err = writer.communicate("stop\n", timeout=30)
    assert writer.returncode == 0, err
    assert not (SHM / name).exists()
    assert not (tmp_path / RECORD_NAME).exists() and not well_known_record().exists()
    assert "leaked" not in err and "Traceback" not in err


@pytest.mark.slow
@needs_dev_shm
def test_reader_processes_exiting_never_unlink_the_writers_segment_nor_warn(tmp_path: Path) -> None:
    """Readers both with their own resource tracker (a script) and sharing the writer's (multiprocessing spawn)."""
    script = tmp_path / "scenario.py"  # a file: spawned children import their target from it
    script.write_text(
        textwrap.dedent("""
        import multiprocessing, os, subprocess, sys
        from loguru import logger
        from messages import Currencies, Currency, Exchange, Exchanges
        from messages.balances import BalanceView
        from actors.stores.shm_board import SharedMemoryBoard

        def read_once(name):
            board = SharedMemoryBoard.attach(name)
            assert board.read(Exchanges.KRAKEN, "main", Currencies.USDC).total == 3.0
            board.close()

        if __name__ == "__main__":
            logger.remove()
            board = SharedMemoryBoard.create()
            board.publish(BalanceView(exchange=Exchanges.KRAKEN, account="main", currency=Currencies.USDC,
                                      slots=(3.0, 3.0)))
            child = multiprocessing.get_context("spawn").Process(target=read_once, args=(board.name,))
            child.start()
            child.join(30)
            script = subprocess.run([sys.executable, "-c", f"from actors.stores.shm_board import SharedMemoryBoard; "
                                     f"SharedMemoryBoard.attach({board.name!r}).views()"], stderr=subprocess.PIPE,
                                    text=True, timeout=30)
            print("exit codes", child.exitcode, script.returncode, script.stderr.strip())
            print("still there", os.path.exists("/dev/shm/" + board.name), board.read(
                Exchanges.KRAKEN, "main", Currencies.USDC).total)
            board.close()
            print("gone", not os.path.exists("/dev/shm/" + board.name))
    """)
    )
    scenario = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert scenario.stdout.splitlines() == ["exit codes 0 0 ", "still there True 3.0", "gone True"], scenario.stderr
    assert scenario.stderr == ""  # no resource_tracker warning, no KeyError from the shared tracker


@pytest.mark.slow
@needs_dev_shm
def test_a_writer_killed_without_closing_leaves_nothing_and_its_readers_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys
        from messages import Currencies, Currency, Exchange, Exchanges
        from messages.balances import BalanceView
        from actors.stores.shm_board import SharedMemoryBoard
        board = SharedMemoryBoard.create(runtime_folder={str(tmp_path)!r})
        board.publish(BalanceView(exchange=Exchanges.KRAKEN, account="main", currency=Currencies.USDC, slots=(1.0, 1.0)))
        print(board.name, flush=True)
        sys.stdin.readline()
    """),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    name = writer.stdout.readline().strip()
    monkeypatch.setattr(SharedMemoryBoard, "stale_check_interval", 0.0)  # check the writer on every read
    reader = find_board(tmp_path)
    assert reader is not None and reader.read(KRAKEN, "main", USDC) is not None
    writer.send_signal(signal.SIGKILL)
    # stderr reaches EOF only once the writer's resource tracker, which holds it too, has exited:
    # by then it has unlinked the segment the writer left behind.
    _, err = writer.communicate(timeout=30)
    assert not (SHM / name).exists(), err
    with pytest.raises(
        BoardClosedError,
        match=f"balance board {name} is gone: its writer \\(pid {writer.pid}\\) "
        "is no longer running, and no running board replaces it yet",
    ):
        reader.read(KRAKEN, "main", USDC)
    reader.close()
