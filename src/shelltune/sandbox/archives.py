"""Archives a fixture's setup script wrote, with the real time it ran at replaced by the fixture clock.

The kernel stamps what the setup writes with the real time, and tools copy those stamps into what they
make: gzip's header keeps the input's mtime, tar each member's, zip each entry's (as a DOS time and often
a Unix extended timestamp). A world built today would differ from one built tomorrow. `normalize` rewrites
every such time inside the setup's real window to the setup clock's instant, and leaves any other time (a
member dated 2024 on purpose, `touch -d`) alone:

- gzip: the header's MTIME; when the payload is a tar, its members too (the payload is recompressed with
  zlib at level 6, deterministic for one zlib version); a gzip or zip stored as a tar member, in place;
- tar (plain, and inside gzip, bzip2 or xz): each header's mtime (ustar/GNU octal fields, checksums
  recomputed) and pax `mtime`/`atime`/`ctime` records;
- zip: each entry's DOS date and time in the local and central headers, and the `UT` extra field's times.

Other formats (cpio, 7z, a date a script printed into a text file) keep what was written; docs/execution.md
says so.
"""

from __future__ import annotations

import bz2
import calendar
import gzip
import lzma
import os
import struct
import time
import zlib
from pathlib import Path

BLOCK = 512


class Clock:
    """The real window [low, high] (epoch seconds) and the instant to put in its place."""

    def __init__(self, low: float, high: float, to: int):
        self.low, self.high, self.to = int(low) - 1, int(high) + 1, to

    def fix(self, seconds: float) -> int | None:
        """The replacement for a time inside the window, else None."""
        return self.to if self.low <= seconds <= self.high else None


def normalize(path: Path, clock: Clock) -> bool:
    """Rewrite `path` in place if it is an archive holding times inside the window; True if it changed."""
    with open(path, "rb") as handle:
        head = handle.read(BLOCK)
    if head[:2] == b"\x1f\x8b":
        fixed = normalize_gzip(path.read_bytes(), clock)
    elif head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        fixed = normalize_zip(path.read_bytes(), clock)
    elif head[:3] == b"BZh":
        fixed = recompressed(path.read_bytes(), bz2.decompress, lambda d: bz2.compress(d, 9), clock)
    elif head[:6] == b"\xfd7zXZ\x00":
        fixed = recompressed(path.read_bytes(), lzma.decompress, lambda d: lzma.compress(d), clock)
    elif is_tar(head):
        fixed = normalize_tar(path.read_bytes(), clock)
    else:
        return False
    if fixed is None:
        return False
    stat = path.stat()
    path.write_bytes(fixed)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return True


def is_tar(head: bytes) -> bool:
    return len(head) >= 263 and head[257:262] == b"ustar" and tar_checksum_ok(head)


def recompressed(data: bytes, unpack, pack, clock: Clock) -> bytes | None:  # type: ignore[no-untyped-def]
    try:
        payload = unpack(data)
    except (OSError, EOFError, ValueError, lzma.LZMAError):
        return None
    fixed = normalize_tar(payload, clock) if is_tar(payload[:BLOCK]) else None
    return pack(fixed) if fixed is not None else None


# --- gzip -------------------------------------------------------------------------------------------------


def normalize_gzip(data: bytes, clock: Clock) -> bytes | None:
    """The header's MTIME, and a tar payload's member times (then the whole stream is rebuilt)."""
    if len(data) < 18:
        return None
    flags = data[3]
    (mtime,) = struct.unpack("<I", data[4:8])
    new_mtime = clock.fix(mtime) if mtime else None
    try:
        payload = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None
    tar = normalize_tar(payload, clock) if is_tar(payload[:BLOCK]) else None
    if tar is None and new_mtime is None:
        return None
    header_end = gzip_header_end(data, flags)
    header = bytearray(data[:header_end])
    if new_mtime is not None:
        header[4:8] = struct.pack("<I", new_mtime)
    if flags & 0x02:  # FHCRC: the header's own CRC16 follows it
        header[-2:] = struct.pack("<H", zlib.crc32(bytes(header[:-2])) & 0xFFFF)
    if tar is None:
        return bytes(header) + data[header_end:]
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(tar) + compressor.flush()
    return bytes(header) + body + struct.pack("<II", zlib.crc32(tar), len(tar) & 0xFFFFFFFF)


def gzip_header_end(data: bytes, flags: int) -> int:
    pos = 10
    if flags & 0x04:  # FEXTRA
        (extra,) = struct.unpack("<H", data[pos : pos + 2])
        pos += 2 + extra
    for bit in (0x08, 0x10):  # FNAME, FCOMMENT: NUL-terminated
        if flags & bit:
            pos = data.index(b"\0", pos) + 1
    if flags & 0x02:
        pos += 2
    return pos


# --- tar --------------------------------------------------------------------------------------------------


def tar_checksum_ok(header: bytes) -> bool:
    try:
        stored = int(header[148:156].split(b"\0")[0].strip() or b"0", 8)
    except ValueError:
        return False
    return stored == sum(header[:148]) + 8 * 32 + sum(header[156:BLOCK])


def normalize_tar(data: bytes, clock: Clock) -> bytes | None:
    """Member mtimes inside the window, in headers and pax records; None when nothing changed."""
    out = bytearray(data)
    changed = False
    pos = 0
    while pos + BLOCK <= len(out):
        header = bytes(out[pos : pos + BLOCK])
        if header == bytes(BLOCK) or not tar_checksum_ok(header):
            break
        size = tar_number(header[124:136])
        data_start, data_end = pos + BLOCK, pos + BLOCK + size
        fixed = clock.fix(tar_number(header[136:148]))
        if fixed is not None:
            block = bytearray(header)
            block[136:148] = f"{fixed:011o}\0".encode()
            block[148:156] = b" " * 8
            block[148:156] = f"{sum(block):06o}\0 ".encode()
            out[pos : pos + BLOCK] = block
            changed = True
        if header[156:157] in (b"x", b"g"):
            records = normalize_pax(bytes(out[data_start:data_end]), clock)
            if records is not None:
                out[data_start:data_end] = records
                changed = True
        elif header[156:157] in (b"0", b"\0"):
            member = in_place(bytes(out[data_start:data_end]), clock)
            if member is not None:
                out[data_start:data_end] = member
                changed = True
        pos = data_start + (size + BLOCK - 1) // BLOCK * BLOCK
    return bytes(out) if changed else None


def in_place(data: bytes, clock: Clock) -> bytes | None:
    """An archive inside a tar, fixed without changing its size (the tar's layout depends on it): a gzip's
    header time, a zip's entry times. A compressed tar inside a tar keeps its members' times."""
    if data[:2] == b"\x1f\x8b" and len(data) >= 10:
        (mtime,) = struct.unpack("<I", data[4:8])
        fixed = clock.fix(mtime) if mtime else None
        if fixed is None or data[3] & 0x02:  # a header CRC would have to change too: leave it
            return None
        return data[:4] + struct.pack("<I", fixed) + data[8:]
    if data[:4] == b"PK\x03\x04":
        return normalize_zip(data, clock)
    return None


def tar_number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0")[0].strip()
    return int(text, 8) if text else 0


def normalize_pax(records: bytes, clock: Clock) -> bytes | None:
    """pax `mtime`, `atime`, `ctime` records inside the window, each rewritten with the same length (the
    digits are padded), so the member's size and the archive's layout stay as they are."""
    out, pos, changed = bytearray(), 0, False
    while pos < len(records):
        space = records.find(b" ", pos)
        if space < 0:
            return None
        length = int(records[pos:space])
        record = records[pos : pos + length]
        key, _, value = record[space - pos + 1 : -1].partition(b"=")
        fixed = clock.fix(float(value)) if key in (b"mtime", b"atime", b"ctime") else None
        if fixed is not None:
            whole = str(fixed).encode()
            # the same length, or the record's length prefix and the member's size would change
            replacement = whole + (b"." + b"0" * (len(value) - len(whole) - 1) if b"." in value else b"")
            if len(replacement) == len(value):
                record = record[: space - pos + 1] + key + b"=" + replacement + b"\n"
                changed = True
        out += record
        pos += length
    return bytes(out) if changed else None


# --- zip --------------------------------------------------------------------------------------------------


def dos_time(seconds: float) -> tuple[int, int]:
    t = time.gmtime(seconds)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), ((t.tm_year - 1980) << 9) | (
        t.tm_mon << 5
    ) | t.tm_mday


def from_dos(time_field: int, date_field: int) -> float:
    year, month, day = (date_field >> 9) + 1980, (date_field >> 5) & 15, date_field & 31
    hour, minute, second = time_field >> 11, (time_field >> 5) & 63, (time_field & 31) * 2
    try:
        return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    except (OverflowError, ValueError):
        return -1.0


def normalize_zip(data: bytes, clock: Clock) -> bytes | None:
    """Every entry's DOS time and `UT` times inside the window (the sandbox's time zone is UTC), in the
    central directory and the local headers it points at."""
    end = data.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(data):
        return None
    out = bytearray(data)
    count, _, offset = struct.unpack("<HII", data[end + 10 : end + 20])
    changed = False
    pos = offset
    for _ in range(count):
        if out[pos : pos + 4] != b"PK\x01\x02":
            return None
        name_len, extra_len, comment_len = struct.unpack("<HHH", out[pos + 28 : pos + 34])
        (local,) = struct.unpack("<I", out[pos + 42 : pos + 46])
        changed |= fix_dos(out, pos + 12, clock)
        changed |= fix_extra(out, pos + 46 + name_len, extra_len, clock)
        if out[local : local + 4] == b"PK\x03\x04":
            local_name, local_extra = struct.unpack("<HH", out[local + 26 : local + 30])
            changed |= fix_dos(out, local + 10, clock)
            changed |= fix_extra(out, local + 30 + local_name, local_extra, clock)
        pos += 46 + name_len + extra_len + comment_len
    return bytes(out) if changed else None


def fix_dos(out: bytearray, at: int, clock: Clock) -> bool:
    time_field, date_field = struct.unpack("<HH", out[at : at + 4])
    fixed = clock.fix(from_dos(time_field, date_field))
    if fixed is None:
        return False
    out[at : at + 4] = struct.pack("<HH", *dos_time(fixed))
    return True


def fix_extra(out: bytearray, start: int, length: int, clock: Clock) -> bool:
    """The extended timestamp field (0x5455): a flags byte, then up to three little-endian u32 times."""
    changed, pos = False, start
    while pos + 4 <= start + length:
        tag, size = struct.unpack("<HH", out[pos : pos + 4])
        if tag == 0x5455:
            for at in range(pos + 5, min(pos + 4 + size, start + length) - 3, 4):
                (seconds,) = struct.unpack("<I", out[at : at + 4])
                fixed = clock.fix(seconds)
                if fixed is not None:
                    out[at : at + 4] = struct.pack("<I", fixed)
                    changed = True
        pos += 4 + size
    return changed
