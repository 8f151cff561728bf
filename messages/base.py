"""The root of the message language: `Message`, an immutable msgspec Struct tagged with its type name.

Every message in the system subclasses `Message`. Float fields must be finite: a NaN or
infinite amount is refused when the message is built and when it is decoded from the wire.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import msgspec

__all__ = ["Message", "message_types"]

# Per concrete class: the names of its float-typed fields (computed on first use).
_FLOAT_FIELDS: dict[type, tuple[str, ...]] = {}


def _is_float_type(tp: Any) -> bool:
    """True for float, Optional[float] and Annotated[float, ...] field types."""
    if tp is float:
        return True
    origin = getattr(tp, "__origin__", None)
    if origin is not None and getattr(tp, "__metadata__", None) is not None:  # Annotated
        return _is_float_type(origin)
    args = getattr(tp, "__args__", None)
    if args and type(None) in args:  # Optional / union with None
        return any(_is_float_type(a) for a in args if a is not type(None))
    return False


def _float_fields(cls: type) -> tuple[str, ...]:
    fields = _FLOAT_FIELDS.get(cls)
    if fields is None:
        fields = tuple(f.name for f in msgspec.structs.fields(cls) if _is_float_type(f.type))
        _FLOAT_FIELDS[cls] = fields
    return fields


class Message(msgspec.Struct, frozen=True, tag=True):
    """An immutable, typed message. Subclass it to declare a message; the class is the schema.

    The wire form is a MessagePack map with a ``type`` field naming the class. Do not put
    callables, locks or live objects in a message: it must be able to cross a process boundary.
    """

    _registry_version: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The codec rebuilds its decoder when a new message type appears.
        Message._registry_version += 1

    def __post_init__(self) -> None:
        for name in _float_fields(type(self)):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{type(self).__name__}.{name} must be a finite number, got {value!r}")


def message_types() -> dict[str, type[Message]]:
    """Every concrete message class defined so far, by its wire tag."""
    found: dict[str, type[Message]] = {}
    stack: list[type] = list(Message.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag  # type: ignore[attr-defined]
        if isinstance(tag, str):
            existing = found.get(tag)
            if existing is not None and existing is not cls:
                raise TypeError(
                    f"two message classes share the wire tag {tag!r}: "
                    f"{existing.__module__}.{existing.__qualname__} and {cls.__module__}.{cls.__qualname__}"
                )
            found[tag] = cls
    return found
