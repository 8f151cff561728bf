"""Codec fuzzing (hypothesis): whatever bytes or text arrive, decoding gives a valid message or a DecodeError.

Every message type is built from generated values, round-tripped, then mutated; arbitrary
MessagePack documents (deep nesting, huge strings, non-finite floats, big integers) are decoded.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors.base  # noqa: F401 - registers every message the actors use
import messages  # noqa: F401
from messages.base import Message, message_types
from messages.codec import (
    MAX_MESSAGE_BYTES,
    DecodeError,
    EncodeError,
    decode,
    decode_json,
    encode,
    encode_json,
    to_builtins,
)

TYPES = sorted(message_types().items())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def built(draw: st.DrawFn, cls: type[Message]) -> Message | Exception:
    """A message of ``cls`` from generated field values, or the error its constructor refused them with."""
    try:
        message = draw(st.from_type(cls))
        # hypothesis takes a field's default_factory from the signature as the value itself
        made = {
            f.name: f.default_factory()
            for f in msgspec.structs.fields(cls)
            if type(getattr(message, f.name)).__name__ == "Factory"
        }
        return msgspec.structs.replace(message, **made) if made else message
    except (ValueError, TypeError) as error:  # non-finite floats, failed checks: refused at construction
        return error
    except Exception as error:  # a field type hypothesis cannot build (typing.Any)
        return error


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(k) and _all_finite(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_all_finite(v) for v in value)
    return True


def _decodes_or_refuses(data: Any, json: bool = False) -> Message | None:
    """Decode ``data``: a valid message, or None for a DecodeError; any other exception fails the test."""
    try:
        message = decode_json(data) if json else decode(data)
    except DecodeError:
        return None
    assert isinstance(message, Message)
    assert _all_finite(to_builtins(message)), f"a non-finite float got through: {message!r}"
    return message


@pytest.mark.parametrize(("tag", "cls"), TYPES, ids=[tag for tag, _ in TYPES])
@FUZZ
@given(data=st.data())
def test_every_message_type_round_trips_and_its_mutations_decode_or_are_refused(
    tag: str, cls: type[Message], data: st.DataObject
) -> None:
    message = data.draw(built(cls))
    if isinstance(message, Exception):
        return  # refused when built (the construction-time checks have their own tests)
    try:
        encoded = encode(message)
    except EncodeError:  # an integer beyond 64 bits: refused on the way out, never half-sent
        return
    try:
        decoded = decode(encoded)
    except DecodeError:  # msgspec checks constraints (min_length, ...) when decoding, not when building
        with pytest.raises(DecodeError):
            decode_json(encode_json(message))
        return
    assert decoded == message
    assert decode_json(encode_json(message)) == message
    position = data.draw(st.integers(0, max(0, len(encoded) - 1)))
    byte = data.draw(st.integers(0, 255))
    mutants = [
        encoded[:position],  # truncated
        encoded[:position] + bytes([byte]) + encoded[position + 1 :],  # one byte changed
        encoded[:position] + bytes([byte]) + encoded[position:],  # one byte inserted
        encoded[:position] + b"\x91" * 5_000 + encoded[position:],  # a deep nest inserted
    ]
    for mutant in mutants:
        _decodes_or_refuses(mutant)
    text = encode_json(message)
    _decodes_or_refuses(text[:position] + bytes([byte]) + text[position + 1 :], json=True)


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),  # NaN and infinities included
    st.text(max_size=50),
    st.binary(max_size=50),
    st.sampled_from([tag for tag, _ in TYPES]),
)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=40,
)


@FUZZ
@given(
    tag=st.sampled_from([tag for tag, _ in TYPES]), fields=st.dictionaries(st.text(max_size=12), documents, max_size=6)
)
def test_any_messagepack_map_with_a_known_type_decodes_or_is_refused(tag: str, fields: dict[str, Any]) -> None:
    _decodes_or_refuses(msgpack.packb({**fields, "type": tag}))


@FUZZ
@given(st.binary(max_size=2_000))
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    _decodes_or_refuses(data)
    _decodes_or_refuses(data, json=True)


@FUZZ
@given(st.text(max_size=2_000))
def test_any_text_decodes_or_is_refused(text: str) -> None:
    _decodes_or_refuses(text, json=True)


@FUZZ
@given(depth=st.integers(1, 200_000), tag=st.sampled_from([tag for tag, _ in TYPES]))
def test_nesting_at_any_depth_under_any_field_is_refused_cleanly(depth: int, tag: str) -> None:
    _decodes_or_refuses(msgpack.packb({"type": tag, "x": 0})[:-1] + b"\x91" * depth + b"\x00")
    nested = "[" * depth + "]" * depth
    _decodes_or_refuses(f'{{"type": "{tag}", "x": {nested}}}', json=True)


@FUZZ
@given(size=st.integers(MAX_MESSAGE_BYTES - 100, MAX_MESSAGE_BYTES + 100))
def test_huge_strings_are_decoded_up_to_the_limit_and_refused_beyond(size: int) -> None:
    data = msgpack.packb({"type": "Rejected", "reason": ""})[:-1] + b"\xdb" + size.to_bytes(4, "big") + b"r" * size
    message = _decodes_or_refuses(data)
    assert (message is not None) == (len(data) <= MAX_MESSAGE_BYTES)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=500),
        documents.map(msgpack.packb),
        st.integers(1, 100_000).map(lambda depth: b"\x81\xa4kind" + b"\x91" * depth + b"\x00"),
    )
)
def test_any_bytes_are_a_frame_header_or_a_wire_error(data: bytes) -> None:
    from supervisor.transport.wire import MAX_NAME, Header, WireError, decode_header

    try:
        header = decode_header(data)
    except WireError:
        return
    assert isinstance(header, Header) and len(header.to) <= MAX_NAME and len(header.sender) <= MAX_NAME
