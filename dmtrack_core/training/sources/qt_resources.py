"""Files inside a Qt binary resource file (``.rcc``), the container GCompris ships its
activity images in.

Layout (Qt's ``rcc`` tool, format versions 1-3): a ``qres`` header with the big-endian offsets
of the tree, the data and the names; the tree is an array of fixed-size nodes (directories
point at a run of child nodes, files at a data entry); a data entry is a 4-byte size and the
bytes, zlib-compressed (Qt's ``qCompress``: a 4-byte uncompressed size, then the stream) when
the node's flag says so. Only reading is needed here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"qres"
FLAG_COMPRESSED = 0x01
FLAG_DIRECTORY = 0x02
FLAG_COMPRESSED_ZSTD = 0x04


class ResourceFormatError(ValueError):
    """The file is not a Qt resource file this reader understands."""


@dataclass(frozen=True)
class ResourceEntry:
    name: str  # path inside the resource file, "/"-separated, no leading slash
    data: bytes  # the file's bytes, uncompressed


def read_resources(path: str | Path) -> list[ResourceEntry]:
    """Every file in ``path``, in tree order. zstd-compressed entries are skipped (none of the
    images are compressed: compressing an already-compressed image gains nothing)."""
    blob = Path(path).read_bytes()
    if blob[:4] != MAGIC or len(blob) < 20:
        raise ResourceFormatError(f"{path}: not a Qt resource file")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    if version not in (1, 2, 3):
        raise ResourceFormatError(f"{path}: resource format version {version} is not supported")
    node_size = 14 if version == 1 else 22  # version 2 added an 8-byte modification time

    def name_at(offset: int) -> str:
        start = names + offset
        (length,) = struct.unpack(">H", blob[start : start + 2])
        return blob[start + 6 : start + 6 + 2 * length].decode("utf-16-be")  # after a 4-byte hash

    entries: list[ResourceEntry] = []
    pending = [(0, "")]
    while pending:
        index, prefix = pending.pop()
        base = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[base : base + 6])
        name = name_at(name_offset) if index else ""
        if flags & FLAG_DIRECTORY:
            count, first = struct.unpack(">II", blob[base + 6 : base + 14])
            child_prefix = f"{prefix}{name}/" if index else ""
            pending.extend((child, child_prefix) for child in reversed(range(first, first + count)))
            continue
        (data_offset,) = struct.unpack(">I", blob[base + 10 : base + 14])
        start = data + data_offset
        (size,) = struct.unpack(">I", blob[start : start + 4])
        payload = blob[start + 4 : start + 4 + size]
        if flags & FLAG_COMPRESSED_ZSTD:
            continue
        if flags & FLAG_COMPRESSED:
            payload = zlib.decompress(payload[4:])
        entries.append(ResourceEntry(prefix + name, payload))
    return entries
