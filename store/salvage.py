"""Rows read straight from the pages of a store file whose schema SQLite can no longer read.

A truncated file usually loses part of `sqlite_master` (it grows late, at the end of the
file), and then SQL reads nothing at all. The rows themselves are still on the table
pages that survived: this walks every page, decodes the records on table leaf pages
(following overflow chains while they last), and keeps the ones whose shape matches a
table of ours. Pages on the freelist are skipped, so deleted rows do not come back.
Only the file format is assumed (sqlite.org/fileformat.html), nothing of SQLite's code.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from .records import SOURCES

HEADER = b"SQLite format 3\x00"
LEAF_TABLE = 0x0D


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        if pos + i >= len(data):
            raise ValueError("varint runs off the page")
        byte = data[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    raise ValueError("bad varint")  # pragma: no cover


def _decode_record(payload: bytes) -> list[Any]:
    header_size, pos = _varint(payload, 0)
    if header_size > len(payload) or header_size < 1:
        raise ValueError("record header out of range")
    types = []
    while pos < header_size:
        serial, pos = _varint(payload, pos)
        types.append(serial)
    values: list[Any] = []
    body = header_size
    for serial in types:
        if serial == 0:
            values.append(None)
        elif 1 <= serial <= 6:
            size = (1, 2, 3, 4, 6, 8)[serial - 1]
            values.append(int.from_bytes(payload[body : body + size], "big", signed=True))
            body += size
        elif serial == 7:
            values.append(struct.unpack(">d", payload[body : body + 8])[0])
            body += 8
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial >= 12:
            size = (serial - 12) // 2
            raw = payload[body : body + size]
            if len(raw) != size:
                raise ValueError("record body cut short")
            values.append(raw.decode("utf-8") if serial % 2 else bytes(raw))
            body += size
        else:
            raise ValueError(f"reserved serial type {serial}")
    if body > len(payload):
        raise ValueError("record body cut short")
    return values


class PageFile:
    def __init__(self, data: bytes) -> None:
        self.data = data
        # A file whose first bytes were overwritten still has its other pages: assume SQLite's
        # default layout (4096-byte pages, nothing reserved) and no freelist to trust.
        self.header_ok = data.startswith(HEADER) and len(data) >= 100
        size = struct.unpack(">H", data[16:18])[0] if self.header_ok else 4096
        self.page_size = 65536 if size == 1 else size
        if self.page_size < 512 or self.page_size & (self.page_size - 1):
            self.header_ok, self.page_size = False, 4096
        self.usable = self.page_size - (data[20] if self.header_ok else 0)
        self.pages = len(data) // self.page_size

    def page(self, number: int) -> bytes | None:
        start = (number - 1) * self.page_size
        chunk = self.data[start : start + self.page_size]
        return chunk if len(chunk) == self.page_size else None

    def freelist(self) -> set[int]:
        """Pages SQLite holds as free: their old contents are deleted rows."""
        free: set[int] = set()
        if not self.header_ok:
            return free
        trunk = struct.unpack(">I", self.data[32:36])[0]
        while trunk and trunk not in free:
            page = self.page(trunk)
            if page is None:
                break
            free.add(trunk)
            count = struct.unpack(">I", page[4:8])[0]
            for i in range(min(count, (self.usable - 8) // 4)):
                free.add(struct.unpack(">I", page[8 + 4 * i : 12 + 4 * i])[0])
            trunk = struct.unpack(">I", page[0:4])[0]
        return free

    def _payload(self, page: bytes, pos: int, size: int) -> bytes:
        """The whole payload of a cell: its local part, then the overflow chain."""
        u = self.usable
        max_local = u - 35
        if size <= max_local:
            return page[pos : pos + size]
        min_local = ((u - 12) * 32 // 255) - 23
        local = min_local + (size - min_local) % (u - 4)
        if local > max_local:
            local = min_local
        out = bytearray(page[pos : pos + local])
        next_page = struct.unpack(">I", page[pos + local : pos + local + 4])[0]
        seen: set[int] = set()
        while len(out) < size and next_page and next_page not in seen:
            seen.add(next_page)
            overflow = self.page(next_page)
            if overflow is None:
                raise ValueError("overflow chain runs past the end of the file")
            next_page = struct.unpack(">I", overflow[:4])[0]
            out += overflow[4:u][: size - len(out)]
        if len(out) < size:
            raise ValueError("overflow chain cut short")
        return bytes(out)

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(rowid, values) of every record on a live table leaf page that decodes."""
        free = self.freelist()
        for number in range(1, self.pages + 1):
            if number in free:
                continue
            page = self.page(number)
            if page is None:
                continue
            offset = 100 if number == 1 else 0
            if number == 1 and not self.header_ok:
                continue
            if page[offset] != LEAF_TABLE:
                continue
            cells = struct.unpack(">H", page[offset + 3 : offset + 5])[0]
            for i in range(cells):
                pointer_at = offset + 8 + 2 * i
                try:
                    pos = struct.unpack(">H", page[pointer_at : pointer_at + 2])[0]
                    size, pos = _varint(page, pos)
                    rowid, pos = _varint(page, pos)
                    yield rowid, _decode_record(self._payload(page, pos, size))
                except (ValueError, struct.error, UnicodeDecodeError):
                    continue


def _text(v: Any) -> bool:
    return isinstance(v, str)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float))


def _hex_id(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 32 and all(c in "0123456789abcdef" for c in v)


# table -> (the columns it was created with, whether column 0 is the rowid alias, a check of
# those first values). Later migrations only add columns at the end, so a row has at least
# the first count and at most the table's width; a row written before a column was added
# lacks it, and the insert leaves it to its default.
SHAPES: dict[str, tuple[int, bool, Callable[[list[Any]], bool]]] = {
    "artifacts": (19, True, lambda r: _hex_id(r[1]) and _text(r[2]) and _text(r[5]) and _text(r[7]) and _number(r[8])),
    "artifact_vectors": (
        4,
        True,
        lambda r: _text(r[1]) and isinstance(r[2], int) and isinstance(r[3], bytes) and len(r[3]) == 4 * r[2],
    ),
    "points": (
        10,
        True,
        lambda r: isinstance(r[1], int) and _number(r[2]) and r[3] in SOURCES and isinstance(r[4], int),
    ),
    "spend": (9, True, lambda r: _text(r[1]) and _text(r[3]) and isinstance(r[6], int) and _number(r[8])),
    "transcripts": (13, False, lambda r: _hex_id(r[0]) and _text(r[1]) and _text(r[2]) and _text(r[3]) and _text(r[5])),
    "attempts": (16, False, lambda r: _hex_id(r[0]) and isinstance(r[1], int) and _text(r[2]) and _text(r[6])),
    "meta": (2, False, lambda r: _text(r[0]) and _text(r[1]) and r[0] in ("embedding_model", "embedding_dim")),
    "jobs": (13, True, lambda r: _text(r[1]) and _text(r[2]) and _text(r[4]) and _number(r[10])),
}


def salvage(data: bytes, widths: dict[str, int]) -> dict[str, list[list[Any]]]:
    """Rows by table, each as the table's first column values in schema order (as many as
    the record holds). `widths`: each table's column count in the current schema."""
    pages = PageFile(data)
    found: dict[str, list[list[Any]]] = {table: [] for table in SHAPES}
    for rowid, values in pages.rows():
        for table, (created, rowid_alias, fits) in SHAPES.items():
            if not created <= len(values) <= widths.get(table, created):
                continue
            row = [rowid, *values[1:]] if rowid_alias else list(values)
            try:
                ok = fits(row)
            except (IndexError, TypeError):
                ok = False
            if ok:
                found[table].append(row)
                break
    return found
