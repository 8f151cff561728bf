"""The wire codec: plain MessagePack both ways, and clear errors for anything malformed."""

from __future__ import annotations

import math

import msgpack
import msgspec
import pytest

from messages import (
    ActorStatus,
    Currencies,
    Currency,
    DeadLetter,
    DecodeError,
    Exchange,
    Exchanges,
    Message,
    Ping,
    Pong,
    Rejected,
    decode,
    decode_json,
    encode,
    encode_json,
    message_types,
)
from messages.codec import to_builtins


class Quote(Message, frozen=True):
    exchange: Exchange
    currency: Currency
    amount: float
    note: str | None = None


SAMPLES: list[Message] = [
    Ping(nonce=7),
    Pong(actor="gateway", nonce=7),
    Rejected(reason="more than is available", message_type="Allocate"),
    ActorStatus(name="tasks", state="running", restarts=2, mailbox=0, last_error=None),
    Quote(exchange=Exchanges.KRAKEN, currency=Currencies.USDC, amount=1234.5),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_a_round_trip(message: Message) -> None:
    assert decode(encode(message)) == message
    assert decode_json(encode_json(message)) == message


def test_encoded_bytes_are_plain_messagepack_with_a_type_field() -> None:
    data = encode(Quote(exchange=Exchanges.MEXC, currency=Currencies.USDT, amount=10.0))
    as_dict = msgpack.unpackb(data)
    assert as_dict == {"type": "Quote", "exchange": "mexc", "currency": "usdt", "amount": 10.0, "note": None}


def test_a_dict_packed_by_the_msgpack_package_decodes_to_the_typed_message() -> None:
    data = msgpack.packb({"type": "Quote", "exchange": "kraken", "currency": "btc", "amount": 0.5})
    message = decode(data)
    assert isinstance(message, Quote)
    assert message.exchange == Exchanges.KRAKEN and message.currency == Currencies.BTC and message.amount == 0.5


def test_to_builtins_matches_what_msgpack_reads() -> None:
    message = Pong(actor="b", nonce=3)
    assert to_builtins(message) == msgpack.unpackb(encode(message))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xc1\x00", "not MessagePack"),
        (b"", "not MessagePack"),
        (msgpack.packb([1, 2, 3]), "expected a map with a `type` field"),
        (msgpack.packb({"nonce": 1}), "no `type` field"),
        (msgpack.packb({"type": "NoSuchMessage"}), "unknown message type 'NoSuchMessage'"),
        (msgpack.packb({"type": "Pong"}), "missing required field `actor`"),
        (msgpack.packb({"type": "Pong", "actor": 5}), "Expected `str`, got `int` - at `$.actor`"),
        (msgpack.packb({"type": "Quote", "exchange": "Nasdaq!", "currency": "usd", "amount": 1.0}), "$.exchange"),
        (msgpack.packb({"type": "Quote", "exchange": "kraken", "currency": "usd", "amount": math.nan}), "finite"),
        (msgpack.packb({"type": "Quote", "exchange": "kraken", "currency": "usd", "amount": math.inf}), "finite"),
    ],
)
def test_malformed_frames_raise_decode_error_naming_the_problem(data: bytes, expected: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert expected in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_malformed_json_raises_decode_error() -> None:
    with pytest.raises(DecodeError, match="not JSON"):
        decode_json("{nope")
    with pytest.raises(DecodeError, match="unknown message type"):
        decode_json('{"type": "Nope"}')


def test_only_messages_can_be_encoded() -> None:
    with pytest.raises(TypeError):
        encode({"type": "Ping"})  # type: ignore[arg-type]


def test_non_finite_amounts_are_refused_when_building_a_message() -> None:
    with pytest.raises(ValueError, match="Quote.amount must be a finite number"):
        Quote(exchange=Exchanges.KRAKEN, currency=Currencies.USD, amount=math.nan)
    with pytest.raises(ValueError, match="finite"):
        Quote(exchange=Exchanges.KRAKEN, currency=Currencies.USD, amount=-math.inf)


def test_messages_are_immutable() -> None:
    ping = Ping(nonce=1)
    with pytest.raises(AttributeError):
        ping.nonce = 2  # type: ignore[misc]


def test_messages_are_tagged_with_their_class_name() -> None:
    types = message_types()
    assert types["Ping"] is Ping and types["DeadLetter"] is DeadLetter
    assert all(tag == cls.__name__ for tag, cls in types.items() if cls.__module__.startswith("messages"))


def test_a_message_type_declared_later_is_decodable_at_once() -> None:
    class LateComer(Message, frozen=True):
        value: int

    assert decode(msgpack.packb({"type": "LateComer", "value": 3})) == LateComer(value=3)


def test_exchange_and_currency_have_one_lowercase_spelling() -> None:
    assert {"kraken", "mexc", "binance", "lighter"} <= set(Exchanges.known())
    assert {"usd", "usdc", "usdt", "btc", "eth", "qrl"} <= set(Currencies.known())
    assert msgspec.json.encode(Currencies.USDC) == b'"usdc"'


# ---- hostile input (issue 9): every malformed input is a DecodeError, nothing else ----------------


def _nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\x00"  # [[[...0...]]] in MessagePack


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_deeply_nested_body_is_a_decode_error_not_a_recursion_error(depth: int) -> None:
    body = b"\x82\xa4type\xa4Ping\xa1x" + _nested(depth)  # {"type": "Ping", "x": [[[...]]]}
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode(body)
    with pytest.raises(DecodeError, match="nested too deeply"):
        decode_json('{"type": "Ping", "x": ' + "[" * depth + "]" * depth + "}")


def test_json_that_cannot_be_utf8_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not UTF-8"):
        decode_json('{"type": "Ping", "nonce": 1, "x": "\ud800"}')


@pytest.mark.parametrize("value", [5, None, 1.5, object()])
def test_decoding_something_that_is_not_bytes_or_text_is_a_decode_error(value: object) -> None:
    with pytest.raises(DecodeError, match="expected bytes or text"):
        decode_json(value)  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="expected bytes or text"):
        decode(value)  # type: ignore[arg-type]


def test_a_message_over_the_size_limit_is_refused_before_decoding() -> None:
    from messages.codec import MAX_MESSAGE_BYTES

    big = msgpack.packb({"type": "Rejected", "reason": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(DecodeError, match="too large"):
        decode(big)
    with pytest.raises(DecodeError, match="too large"):
        decode_json(b" " * (MAX_MESSAGE_BYTES + 1))
    assert decode(msgpack.packb({"type": "Rejected", "reason": "x" * 100_000})).reason == "x" * 100_000


def test_non_finite_floats_inside_containers_are_refused_like_direct_fields() -> None:
    from messages.balances import BalanceView
    from messages.reports import Prices, TransferStats

    with pytest.raises(ValueError, match="BalanceView.slots must hold finite numbers"):
        BalanceView(exchange=Exchanges.KRAKEN, account="main", currency=Currencies.USDC, slots=(1.0, math.nan))
    with pytest.raises(ValueError, match="Prices.usd must hold finite numbers"):
        Prices(usd={Currencies.BTC: math.inf})
    with pytest.raises(ValueError, match="TransferStats.volume"):
        TransferStats(done=1, volume={Currencies.USD: -math.inf}, in_flight=0, in_doubt=0, failed_attempts=0)
    for document in (
        {"type": "BalanceView", "exchange": "kraken", "account": "main", "currency": "usdc", "slots": [1.0, math.inf]},
        {"type": "Prices", "usd": {"btc": math.nan}},
        {
            "type": "TransferStats",
            "done": 1,
            "volume": {"usd": math.nan},
            "in_flight": 0,
            "in_doubt": 0,
            "failed_attempts": 0,
        },
    ):
        with pytest.raises(DecodeError, match="finite"):
            decode(msgpack.packb(document))
    with pytest.raises(DecodeError, match="out of range"):  # JSON has no NaN; msgspec refuses 1e999
        decode_json('{"type": "Prices", "usd": {"btc": 1e999}}')
    assert Prices(usd={Currencies.BTC: 50_000.0}).usd[Currencies.BTC] == 50_000.0
