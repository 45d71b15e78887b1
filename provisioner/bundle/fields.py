"""Strict readers for fields of a decoded msgpack map.

Each header section is parsed by a ``from_plain`` that goes through
:class:`Fields`, so every type error names the exact path
(``header.generator.version``) and unknown keys are refused unless the
bundle comes from a newer minor version of the format.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from provisioner.errors import BundleError, MalformedHeader


class Fields:
    """Typed access to one map; call :meth:`done` to refuse unknown keys."""

    def __init__(
        self,
        plain: Any,
        where: str,
        *,
        strict: bool = True,
        error: type[BundleError] = MalformedHeader,
    ) -> None:
        if not isinstance(plain, dict):
            raise error(f"{where} must be a map, found {_kind(plain)}")
        self._plain = plain
        self._where = where
        self._seen: set[str] = set()
        self.strict = strict
        self.error = error

    @property
    def where(self) -> str:
        return self._where

    def path(self, key: str) -> str:
        return f"{self._where}.{key}"

    def has(self, key: str) -> bool:
        return key in self._plain

    def raw(self, key: str, default: Any = ..., *, nullable: bool = False) -> Any:
        self._seen.add(key)
        if key not in self._plain:
            if default is ...:
                raise self.error(f"{self.path(key)} is missing")
            return default
        value = self._plain[key]
        if value is None and not nullable:
            raise self.error(f"{self.path(key)} must not be nil")
        return value

    def _typed(
        self,
        key: str,
        check: Callable[[Any], bool],
        expected: str,
        default: Any,
        nullable: bool,
    ) -> Any:
        value = self.raw(key, default, nullable=nullable)
        if value is None or value is default:
            return value
        if not check(value):
            raise self.error(f"{self.path(key)} must be {expected}, found {_kind(value)}")
        return value

    def string(self, key: str, default: Any = ..., *, nullable: bool = False,
               pattern: re.Pattern[str] | None = None, max_len: int | None = None,
               min_len: int = 0, choices: tuple[str, ...] | None = None) -> Any:
        """A string of ``min_len`` to ``max_len`` characters (code points)."""
        value = self._typed(key, lambda v: isinstance(v, str), "a string", default, nullable)
        if isinstance(value, str):
            if max_len is not None and len(value) > max_len:
                raise self.error(f"{self.path(key)} is longer than {max_len} characters")
            if len(value) < min_len:
                raise self.error(f"{self.path(key)} must not be empty")
            if choices is not None and value not in choices:
                raise self.error(
                    f"{self.path(key)}={_preview(value)}; expected one of "
                    f"{', '.join(choices)}")
            if pattern is not None and not pattern.match(value):
                raise self.error(f"{self.path(key)}={_preview(value)} has the wrong form")
        return value

    def integer(self, key: str, default: Any = ..., *, nullable: bool = False,
            minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self._typed(key, _is_int, "an integer", default, nullable)
        if _is_int(value):
            if minimum is not None and value < minimum:
                raise self.error(f"{self.path(key)}={value} must be >= {minimum}")
            if maximum is not None and value > maximum:
                raise self.error(f"{self.path(key)}={value} must be <= {maximum}")
        return value

    def float64(self, key: str, default: Any = ..., *, nullable: bool = False) -> Any:
        """A msgpack float64 (an integer is not accepted: the types are distinct)."""
        return self._typed(key, lambda v: isinstance(v, float), "a float", default,
                           nullable)

    def number(self, key: str, default: Any = ..., *, nullable: bool = False,
               minimum: float | None = None) -> Any:
        value = self._typed(
            key, lambda v: _is_int(v) or isinstance(v, float), "a number", default, nullable
        )
        if value is not None and value is not default:
            value = float(value)
            if minimum is not None and value < minimum:
                raise self.error(f"{self.path(key)}={value} must be >= {minimum}")
        return value

    def boolean(self, key: str, default: Any = ..., *, nullable: bool = False) -> Any:
        return self._typed(key, lambda v: isinstance(v, bool), "a boolean", default, nullable)

    def mapping(self, key: str, default: Any = ..., *, nullable: bool = False) -> Any:
        return self._typed(key, lambda v: isinstance(v, dict), "a map", default, nullable)

    def array(self, key: str, default: Any = ..., *, nullable: bool = False) -> Any:
        return self._typed(key, lambda v: isinstance(v, list), "an array", default, nullable)

    def sub(self, key: str, default: Any = ..., *, nullable: bool = False) -> Fields | None:
        value = self.raw(key, default, nullable=nullable)
        if value is None or value is default:
            return None
        return Fields(value, self.path(key), strict=self.strict, error=self.error)

    def done(self) -> None:
        if self.strict:
            unknown = sorted(set(self._plain) - self._seen)
            if unknown:
                from provisioner.bundle.layout import FORMAT_MAJOR, FORMAT_MINOR

                raise self.error(
                    f"{self._where} has unknown key {_preview(unknown[0])} (this reader "
                    f"knows format {FORMAT_MAJOR}.{FORMAT_MINOR}; unknown keys are only "
                    "allowed from a newer minor version)"
                )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: Any) -> str:
    names = {dict: "a map", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a float", bytes: "binary", type(None): "nil"}
    return names.get(type(value), type(value).__name__)
