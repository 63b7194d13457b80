"""JSON from outside (API request bodies, imported files, JSON typed into a form or given on
the command line), read by one set of rules so that whatever is accepted can be stored in
PostgreSQL's jsonb, walked by Python and written back out by any JSON reader:

- every number is finite and within the range of a double (RFC 8259, section 6): ``NaN``,
  ``Infinity``, ``1e400`` or a 5,000-digit integer is refused, where it would otherwise become
  a value jsonb rejects (a 500 at the insert) or one Python will not parse or print;
- nesting is at most ``MAX_DEPTH`` levels, so nothing that walks a value later (validation,
  the renderer, the database) runs out of stack. Python's own parser gives up somewhere near
  a thousand levels, depending on how deep the call stack already is; the limit here is far
  below that, so the answer does not depend on where the parsing happens.

The API's default parser is ``JSONParser`` below; the import reads its records with
``decode_at`` and forms and commands use ``loads``. JSON allows the one character PostgreSQL
cannot store, NUL: ``contains_nul`` finds it, for the API's serializers and the import.
"""

import codecs
import json
import math
import sys
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 64
# The largest double, 1.797…e308, has 309 digits; a longer integer cannot be within range.
_MAX_INTEGER_DIGITS = 309


class JSONInputError(ValueError):
    """JSON that ftapp does not take, though it may parse."""


def _shown(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}… ({len(text):,} characters)"


def _out_of_range(text: str) -> JSONInputError:
    return JSONInputError(f"The number {_shown(text)} is out of range (beyond ±1.8e308).")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _out_of_range(text)
    return value


def _integer_in_range(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise _out_of_range(text)
    value = int(text)
    if abs(value) > sys.float_info.max:
        raise _out_of_range(text)
    return value


def _no_constant(name: str) -> None:
    raise JSONInputError(f"{name} is not a JSON number.")


_DECODER = json.JSONDecoder(
    parse_float=_finite_float, parse_int=_integer_in_range, parse_constant=_no_constant
)
_TOO_DEEP = f"The JSON is nested deeper than {MAX_DEPTH} levels."


def _check_depth(value: Any) -> None:
    # Iterative: a recursive walk is what this guards against.
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JSONInputError(_TOO_DEEP)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def decode_at(text: str, position: int = 0) -> tuple[Any, int]:
    """The JSON value that starts at ``position`` of ``text`` and the index just past it, as
    ``json.JSONDecoder.raw_decode``; raises ``json.JSONDecodeError`` for bad syntax and
    ``JSONInputError`` for what the rules above refuse."""
    try:
        value, end = _DECODER.raw_decode(text, position)
    except RecursionError:
        raise JSONInputError(_TOO_DEEP) from None
    _check_depth(value)
    return value, end


def loads(text: str) -> Any:
    """``json.loads`` under the rules above."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise JSONInputError(_TOO_DEEP) from None
    _check_depth(value)
    return value


def contains_nul(value) -> bool:
    """Whether a NUL character is anywhere in ``value`` (a string, or JSON data: object keys
    too). PostgreSQL cannot store one in text or JSON."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser under the rules above: a body that breaks them is a 400 in the API's
    error format (``parse_error``), whichever endpoint it is sent to."""

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF 3.18's check that the charset is a text encoding; its stubs do not have it yet.
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            return loads(codecs.getreader(encoding)(stream).read())
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
