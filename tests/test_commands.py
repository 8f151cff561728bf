"""The JSON command adapter: the seed's command shapes exactly as strategies send them, and malformed ones."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from messages import Currencies, DecodeError, Exchanges, Ping
from messages.balances import Adjust, Allocate, GetBalances, Reconcile, Release
from messages.commands import command_json, parse_command

USD = Currencies.USD


# ---- the seed's shapes ------------------------------------------------------------------------------


def test_the_seed_allocate_command() -> None:
    message = parse_command('{"strategy": "a", "cmd": "allocate", "currency": "usd", "amount": 100, "index": 2}')
    assert message == Allocate(currency=USD, index=2, amount=100.0, strategy="a")


def test_the_seed_release_command() -> None:
    message = parse_command('{"strategy": "a", "cmd": "release", "currency": "usd", "amount": 100, "index": 2}')
    assert message == Release(currency=USD, index=2, amount=100.0, strategy="a")


def test_the_seed_adjust_command_with_amount() -> None:
    message = parse_command('{"strategy": "a", "cmd": "adjust", "currency": "usd", "amount": -1000, "index": 0}')
    assert message == Adjust(currency=USD, delta=-1000.0, index=0, strategy="a")


def test_the_seed_adjust_command_with_delta() -> None:
    message = parse_command('{"strategy": "a", "cmd": "adjust", "currency": "usd", "delta": -1000, "index": 0}')
    assert message == Adjust(currency=USD, delta=-1000.0, index=0, strategy="a")


def test_adjust_with_equal_amount_and_delta_is_accepted() -> None:
    message = parse_command({"cmd": "adjust", "currency": "usd", "amount": 5, "delta": 5.0})
    assert isinstance(message, Adjust) and message.delta == 5.0


def test_adjust_index_defaults_to_the_total_and_ref_is_kept() -> None:
    message = parse_command({"cmd": "adjust", "currency": "usd", "delta": 1.5, "ref": "tx-1"})
    assert message == Adjust(currency=USD, delta=1.5, index=0, ref="tx-1")


@pytest.mark.parametrize("payload_type", ["str", "bytes", "mapping"])
def test_text_bytes_and_mappings_are_all_accepted(payload_type: str) -> None:
    document = {"strategy": "a", "cmd": "allocate", "currency": "usd", "amount": 100, "index": 2}
    payload: Any = {"str": json.dumps(document), "bytes": json.dumps(document).encode(), "mapping": document}[
        payload_type
    ]
    assert parse_command(payload) == Allocate(currency=USD, index=2, amount=100.0, strategy="a")


def test_names_are_case_insensitive() -> None:
    message = parse_command({"cmd": "ALLOCATE", "currency": "UsDc", "amount": 1, "index": 2, "exchange": "Kraken"})
    assert message == Allocate(currency=Currencies.USDC, index=2, amount=1.0, exchange=Exchanges.KRAKEN)


def test_exchange_and_account_route_the_command() -> None:
    message = parse_command(
        {"cmd": "release", "currency": "btc", "amount": 0.5, "index": 3, "exchange": "mexc", "account": "spot"}
    )
    assert message == Release(currency=Currencies.BTC, index=3, amount=0.5, exchange=Exchanges.MEXC, account="spot")


def test_unknown_extra_keys_are_ignored() -> None:
    message = parse_command({"cmd": "allocate", "currency": "usd", "amount": 1, "index": 2, "id": 77, "ts": 1.0})
    assert message == Allocate(currency=USD, index=2, amount=1.0)


def test_a_negative_amount_parses_and_is_left_for_the_gateway_to_refuse() -> None:
    assert parse_command({"cmd": "allocate", "currency": "usd", "amount": -5, "index": 2}) == Allocate(
        currency=USD, index=2, amount=-5.0
    )


def test_a_payload_with_a_type_is_any_message_in_its_json_form() -> None:
    assert parse_command('{"type": "Ping", "nonce": 4}') == Ping(nonce=4)
    assert parse_command({"type": "Reconcile"}) == Reconcile()
    assert parse_command(b'{"type": "GetBalances", "exchange": "kraken"}') == GetBalances(exchange=Exchanges.KRAKEN)
    assert parse_command({"type": "Allocate", "currency": "usd", "index": 2, "amount": 3.0}) == Allocate(
        currency=USD, index=2, amount=3.0
    )


# ---- back to JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Allocate(currency=USD, index=2, amount=100.0, strategy="a"),
        Release(currency=Currencies.BTC, index=5, amount=0.25, strategy="b", exchange=Exchanges.MEXC, account="spot"),
        Adjust(currency=USD, delta=-1000.0, strategy="a"),
        Adjust(currency=USD, delta=7.0, index=3, ref="tx-9", exchange=Exchanges.KRAKEN),
        Reconcile(),
        GetBalances(currency=USD),
    ],
    ids=lambda m: type(m).__name__,
)
def test_command_json_is_the_inverse_of_parse_command(message: Any) -> None:
    document = command_json(message)
    assert parse_command(json.dumps(document)) == message


def test_command_json_writes_the_seed_shape() -> None:
    assert command_json(Allocate(currency=USD, index=2, amount=100.0, strategy="a")) == {
        "strategy": "a",
        "cmd": "allocate",
        "currency": "usd",
        "amount": 100.0,
        "index": 2,
    }
    assert command_json(Adjust(currency=USD, delta=-1000.0, strategy="a")) == {
        "strategy": "a",
        "cmd": "adjust",
        "currency": "usd",
        "amount": -1000.0,
        "index": 0,
    }


# ---- malformed payloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ('{"cmd": "transfer", "currency": "usd", "amount": 1}', "unknown cmd 'transfer'"),
        ('{"strategy": "a", "currency": "usd", "amount": 1}', "no `cmd` field"),
        ('{"cmd": "allocate", "currency": "usd", "index": 2}', "missing field `amount`"),
        ('{"cmd": "allocate", "currency": "usd", "amount": 1}', "missing field `index`"),
        ('{"cmd": "release", "amount": 1, "index": 2}', "missing field `currency`"),
        ('{"cmd": "allocate", "currency": "e ur", "amount": 1, "index": 2}', "invalid currency 'e ur'"),
        (
            '{"cmd": "allocate", "currency": "usd", "amount": 1, "index": 2, "exchange": "f-tx"}',
            "invalid exchange 'f-tx'",
        ),
        (
            '{"cmd": "allocate", "currency": "usd", "amount": "100", "index": 2}',
            "Expected `float`, got `str` - at `$.amount`",
        ),
        ('{"cmd": "allocate", "currency": "usd", "amount": true, "index": 2}', "got `bool` - at `$.amount`"),
        (
            '{"cmd": "allocate", "currency": "usd", "amount": 1, "index": 2.5}',
            "Expected `int`, got `float` - at `$.index`",
        ),
        ('{"cmd": "allocate", "currency": "usd", "amount": 1, "index": 2, "account": ""}', "at `$.account`"),
        ('{"cmd": "allocate", "currency": "usd", "amount": 1e999, "index": 2}', "out of range"),
        ('{"cmd": "adjust", "currency": "usd", "amount": 1, "delta": 2}', "both `amount` (1.0) and `delta` (2.0)"),
        ('{"cmd": "adjust", "currency": "usd"}', "adjust needs `amount` or `delta`"),
        ('{"cmd": "adjust", "currency": "usd", "amount": NaN}', "not JSON"),
        ('{"type": "Explode"}', "unknown message type 'Explode'"),
        ('{"type": "Allocate", "currency": "usd"}', "missing required field `index`"),
        ("[1, 2]", "a command is a JSON object, got list"),
        ('{"cmd": "allocate"', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("", "not JSON"),
    ],
)
def test_a_malformed_payload_raises_a_decode_error_naming_the_problem(payload: str | bytes, problem: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_command(payload)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"cmd": "allocate", "currency": "usd", "amount": math.nan, "index": 2}, "must be a finite number, got nan"),
        ({"cmd": "release", "currency": "usd", "amount": math.inf, "index": 2}, "must be a finite number, got inf"),
        ({"cmd": "adjust", "currency": "usd", "delta": -math.inf}, "`delta` must be a finite number"),
        ({"cmd": "adjust", "currency": "usd", "amount": math.nan, "delta": math.nan}, "`amount` must be a finite"),
        ({"cmd": 3, "currency": "usd"}, "at `$.cmd`"),
    ],
)
def test_a_malformed_mapping_raises_a_decode_error_naming_the_problem(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_command(document)
    assert problem in str(caught.value)


def test_a_payload_of_the_wrong_kind_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="JSON text or a mapping, not int"):
        parse_command(42)  # type: ignore[arg-type]
