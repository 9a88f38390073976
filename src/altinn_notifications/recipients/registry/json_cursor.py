"""A pull cursor over the events of ijson's parser, for walking a JSON document of any size.

ijson's backend is `yajl2_c` (C) when its extension is installed, else a
slower fallback; `BACKEND` names the one in use.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ijson

from altinn_notifications.recipients.registry.model import ByteSource, RegistryFileError

BACKEND: str = ijson.backend_name
DEFAULT_BUFFER = 1 << 16
END = ""  # what `JsonCursor.peek` answers after the document

_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})
_EVENT_TEXT = {
    "start_map": "'{'",
    "start_array": "'['",
    "end_map": "'}'",
    "end_array": "']'",
    END: "end of file",
}


class Utf8Source(io.RawIOBase):
    """The bytes handed to ijson: a leading BOM dropped and every byte checked to be UTF-8 (so such a
    file is reported as not UTF-8, as a CSV file is), counted for the position in error messages."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._head: bytes | None = None  # the first bytes, read whole to see a BOM split across reads
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if len(buffer) == 0:  # ijson probes with an empty read
            return 0
        data = self._read(len(buffer))
        self._decoder.decode(data, final=not data)
        buffer[: len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        if self._head is None:
            self._head = self._read_head(size)
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        data = self._source.read(size)
        self.count += len(data)
        return data

    def _read_head(self, size: int) -> bytes:
        data = b""
        while len(data) < len(codecs.BOM_UTF8):
            chunk = self._source.read(max(size, len(codecs.BOM_UTF8)))
            if not chunk:
                break
            data += chunk
        self.count += len(data)
        return data.removeprefix(codecs.BOM_UTF8)


# These builders run for every event of every row, so they are plain recursive loops (the fastest shape
# found; nesting is bounded by the recursion limit, as with `json`). Non-integers come from ijson as
# Decimal and are made floats, as `json` gives them: ijson is not asked for floats (`use_float=True`)
# because its C backend then rejects integers beyond 64 bits, failing the whole file where an
# out-of-range `userId` should only fail its row.


def _map(events: Iterator[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for event, key in events:
        if event == "end_map":
            return result
        event, value = next(events)  # `event` was `map_key`: its value follows
        if event == "start_map":
            value = _map(events)
        elif event == "start_array":
            value = _array(events)
        elif type(value) is Decimal:
            value = float(value)
        result[key] = value
    return result  # not reached: ijson reports a premature end itself


def _array(events: Iterator[tuple[str, Any]]) -> list[Any]:
    result: list[Any] = []
    for event, value in events:
        if event == "end_array":
            return result
        result.append(_value(event, value, events))
    return result  # not reached: ijson reports a premature end itself


def _value(event: str, value: Any, events: Iterator[tuple[str, Any]]) -> Any:
    """The value whose first event is `event`."""
    if event == "start_map":
        return _map(events)
    if event == "start_array":
        return _array(events)
    return float(value) if type(value) is Decimal else value


class JsonCursor:
    """A pull cursor over ijson's events: the caller walks objects and arrays and takes one value at a
    time (built whole) or skips it."""

    def __init__(self, source: ByteSource, *, buf_size: int = DEFAULT_BUFFER) -> None:
        self._source = Utf8Source(source)
        self._events: Iterator[tuple[str, Any]] = ijson.basic_parse(self._source, buf_size=buf_size)
        self._peeked: tuple[str, Any] | None = None

    def _invalid(self, reason: str) -> RegistryFileError:
        return RegistryFileError(f"invalid JSON at or before byte {self._source.count}: {reason}")

    def _parse_error(self, exc: Exception) -> RegistryFileError:
        # The first line only: yajl's next lines quote the text around the error (a NIN, an address).
        lines = str(exc).splitlines()
        return self._invalid(lines[0] if lines else type(exc).__name__)

    def _take(self) -> tuple[str, Any]:
        if self._peeked is not None:
            taken, self._peeked = self._peeked, None
            return taken
        try:
            return next(self._events)
        except StopIteration:
            return END, None
        except ijson.JSONError as exc:
            raise self._parse_error(exc) from None

    def _expect(self, event: str, char: str) -> None:
        found = self._take()[0]
        if found != event:
            raise self._invalid(f"expected '{char}', found {_EVENT_TEXT.get(found, 'a ' + found)}")

    def peek(self) -> str:
        """The next event (`start_map`, `string`, `null`, ...; `END` after the document), not consumed."""
        if self._peeked is None:
            self._peeked = self._take()
        return self._peeked[0]

    def value(self) -> Any:
        """The next value, built whole."""
        event, value = self._take()
        if event == END:
            raise self._invalid("unexpected end of file")
        try:
            return _value(event, value, self._events)
        except ijson.JSONError as exc:
            raise self._parse_error(exc) from None

    def skip(self) -> None:
        """Consume one value without building it."""
        depth = 1 if self._take()[0] in _OPEN else 0
        try:
            while depth:
                event, _ = next(self._events)
                depth += (event in _OPEN) - (event in _CLOSE)
        except ijson.JSONError as exc:
            raise self._parse_error(exc) from None

    def array(self) -> Iterator[int]:
        """Yield the index of each element; the caller consumes the element."""
        self._expect("start_array", "[")
        index = 0
        while (event := self.peek()) != "end_array":
            if event == END:
                raise self._invalid("unexpected end of file")
            yield index
            index += 1
        self._take()

    def elements(self) -> Iterator[tuple[int, Any]]:
        """The index and value of each element of an array, each built whole (the rows of a list). The
        cursor is not to be used otherwise until the array ends."""
        self._expect("start_array", "[")
        events = self._events
        index = 0
        try:
            for event, value in events:
                if event == "end_array":
                    return
                yield index, _value(event, value, events)
                index += 1
        except ijson.JSONError as exc:
            raise self._parse_error(exc) from None
        raise self._invalid("unexpected end of file")

    def object(self) -> Iterator[str]:
        """Yield each key; the caller consumes the value."""
        self._expect("start_map", "{")
        while (event := self.peek()) != "end_map":
            if event == END:
                raise self._invalid("unexpected end of file")
            yield self._take()[1]
        self._take()

    def end(self) -> None:
        if self._take()[0] != END:
            raise self._invalid("unexpected content after the document")
