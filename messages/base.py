"""The root of the message language: `Message`, an immutable msgspec Struct tagged with its type name.

Every message in the system subclasses `Message`. Floats must be finite, also inside containers
(slot tuples, price maps, nested structs): a NaN or infinite value is refused when the message
is built and when it is decoded from the wire.
"""

from __future__ import annotations

import math
import typing
from typing import Any, ClassVar

import msgspec

__all__ = ["Message", "message_types"]

# Per concrete class: its fields whose type holds a float somewhere, and whether directly (computed on first use).
_FLOAT_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _holds_float(tp: Any, seen: frozenset[Any] = frozenset()) -> bool:
    """True if a value of type ``tp`` may hold a float: float itself, or inside a container,
    an Optional/union, an Annotated type, a NamedTuple or a plain (non-Message) struct."""
    if tp is float:
        return True
    if tp in seen:
        return False
    seen = seen | {tp}
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if issubclass(tp, Message):
            return False  # a nested message checks itself when it is built
        return any(_holds_float(f.type, seen) for f in msgspec.structs.fields(tp))
    if isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields"):  # a NamedTuple
        return any(_holds_float(field, seen) for field in typing.get_type_hints(tp).values())
    metadata = getattr(tp, "__metadata__", None)
    origin = getattr(tp, "__origin__", None)
    if metadata is not None and origin is not None:  # Annotated
        return _holds_float(origin, seen)
    return any(_holds_float(arg, seen) for arg in getattr(tp, "__args__", ()) if arg is not Ellipsis)


def _non_finite(value: Any) -> float | None:
    """The first NaN or infinity in ``value`` (walking containers and plain structs), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else value
    if isinstance(value, (tuple, list, set, frozenset)):
        try:
            if all(map(math.isfinite, value)):  # the common case, a tuple of numbers: checked in C
                return None
        except (TypeError, OverflowError):  # not all numbers (structs, strings), or an int too big for a float
            pass
        items: Any = value
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, msgspec.Struct) and not isinstance(value, Message):
        items = [getattr(value, f) for f in value.__struct_fields__]
    else:
        return None
    for item in items:
        bad = _non_finite(item)
        if bad is not None:
            return bad
    return None


def _float_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    fields = _FLOAT_FIELDS.get(cls)
    if fields is None:
        fields = tuple((f.name, _direct_float(f.type)) for f in msgspec.structs.fields(cls) if _holds_float(f.type))
        _FLOAT_FIELDS[cls] = fields
    return fields


def _direct_float(tp: Any) -> bool:
    """float, Optional[float], Annotated[float, ...]: a value that is a float or None, never a container."""
    if tp is float:
        return True
    if getattr(tp, "__metadata__", None) is not None:
        return _direct_float(tp.__origin__)
    args: tuple[Any, ...] = getattr(tp, "__args__", None) or ()
    return type(None) in args and all(a is type(None) or _direct_float(a) for a in args)


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
        for name, direct in _float_fields(type(self)):
            value = getattr(self, name)
            if direct:
                if value is not None and not math.isfinite(value):
                    raise ValueError(f"{type(self).__name__}.{name} must be a finite number, got {value!r}")
            else:
                bad = _non_finite(value)
                if bad is not None:
                    raise ValueError(f"{type(self).__name__}.{name} must hold finite numbers only, got {bad!r}")


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
