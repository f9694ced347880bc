"""SentencePiece's precompiled normaliser ("precompiled charsmap"), built from a {text: replacement} map.

The blob is what `tokenizers.normalizers.Precompiled` and SentencePiece read: a little-endian u32 with
the trie's size in bytes, a darts-clone double-array trie over the UTF-8 bytes of the keys, then the
replacements, each ending in NUL. A trie unit is a u32: bits 0-7 the label of the edge into the node
(bit 31 set marks a value unit instead), bit 8 "a value hangs below", bits 10-31 the XOR offset from the
unit's position to its children's base. A node at position p with offset o has its children at
(p ^ o) ^ byte and its value at p ^ o.
"""
from __future__ import annotations

import struct

_MAX_OFFSET = 1 << 21  # offsets of 22 bits fit without darts' extended (<< 8) form


def build_charsmap(mapping: dict[str, str]) -> bytes:
    blob, values = bytearray(), {}
    for key in sorted(mapping):
        values[key] = len(blob)
        blob += mapping[key].encode("utf-8") + b"\0"
    root: dict = {}
    for key, value in values.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value
    units: dict[int, int] = {0: 0}
    bases: set[int] = set()
    lowest_free = 1
    stack = [(root, 0)]
    while stack:  # depth-first; each node's children are placed together, below one fresh base
        node, pos = stack.pop()
        labels = sorted(c for c in node if c is not None)
        while lowest_free in units:
            lowest_free += 1
        base = max(1, lowest_free - 255)
        while (base in bases or (None in node and base in units)
               or any(base ^ c in units for c in labels) or base ^ pos >= _MAX_OFFSET):
            base += 1
        bases.add(base)
        units[pos] |= ((base ^ pos) << 10) | ((1 << 8) if None in node else 0)
        if None in node:
            units[base] = node[None] | (1 << 31)
        for c in labels:
            units[base ^ c] = c
            stack.append((node[c], base ^ c))
    size = max(units) + 1
    trie = struct.pack(f"<{size}I", *(units.get(i, 0) for i in range(size)))
    return struct.pack("<I", len(trie)) + trie + bytes(blob)
