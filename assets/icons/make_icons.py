#!/usr/bin/env python3
"""Draw Bulkhead's map icons (white glyphs on transparency, tinted in the game) as PNGs.

Standard library only: each glyph is a function saying whether a point of the unit square is
inked; pixels are 4x4 supersampled for smooth edges. Run from anywhere:
    python3 assets/icons/make_icons.py
"""
import math
import os
import struct
import zlib

SIZE = 64
SS = 4  # samples per pixel side


def png(path, rows):
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def render(inked):
    rows = []
    for py in range(SIZE):
        row = []
        for px in range(SIZE):
            hits = 0
            for sy in range(SS):
                for sx in range(SS):
                    x = (px + (sx + 0.5) / SS) / SIZE
                    y = (py + (sy + 0.5) / SS) / SIZE
                    hits += inked(x, y)
            a = round(255 * hits / (SS * SS))
            row += [255, 255, 255, a]
        rows.append(row)
    return rows


def ring(x, y, cx, cy, r, w):
    d = math.hypot(x - cx, y - cy)
    return abs(d - r) <= w / 2


def ellipse(x, y, cx, cy, rx, ry):
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1


def gateway(x, y):
    # A shield: flat top, sides curving to a point, with a keyhole-like bar cut out.
    if y < 0.14 or y > 0.9:
        return False
    half = 0.34 if y < 0.5 else 0.34 * math.sqrt(max(0.0, 1 - ((y - 0.5) / 0.4) ** 2))
    inside = abs(x - 0.5) <= half
    inner_half = half - 0.08
    inner = abs(x - 0.5) <= inner_half and 0.22 < y < 0.82
    bar = abs(x - 0.5) <= 0.045 and 0.3 < y < 0.7
    return inside and (not inner or bar)


def web(x, y):
    # A globe: outline, equator, two latitude lines and a meridian ellipse.
    cx = cy = 0.5
    r = 0.36
    d = math.hypot(x - cx, y - cy)
    if d > r + 0.03:
        return False
    if ring(x, y, cx, cy, r, 0.06):
        return True
    if d <= r and abs(y - cy) <= 0.025:
        return True
    if d <= r and (abs(y - 0.33) <= 0.02 or abs(y - 0.67) <= 0.02):
        return True
    e = ((x - cx) / 0.15) ** 2 + ((y - cy) / r) ** 2
    return d <= r and abs(math.sqrt(e) - 1) <= 0.16


def datastore(x, y):
    # A cylinder of three stacked discs.
    rx, ry = 0.32, 0.1
    if abs(x - 0.5) > rx + 0.01:
        return False
    for top in (0.22, 0.44, 0.66):
        band = top <= y <= top + 0.12 and abs(x - 0.5) <= rx
        cap = ellipse(x, y, 0.5, top, rx, ry)
        bottom = ellipse(x, y, 0.5, top + 0.12, rx, ry)
        if band or cap or bottom:
            # Leave a thin gap under each disc so the layers read.
            gap = ellipse(x, y, 0.5, top - 0.035, rx, ry) and not cap
            if not gap:
                return True
    return False


def worker(x, y):
    # A gear: eight teeth around a ring with a hole.
    dx, dy = x - 0.5, y - 0.5
    d = math.hypot(dx, dy)
    a = math.atan2(dy, dx)
    tooth = (math.cos(8 * a) > 0.35) and d <= 0.38
    body = d <= 0.29
    hole = d <= 0.11
    return (tooth or body) and not hole


def internet(x, y):
    # A cloud: overlapping circles over a flat base.
    blobs = [(0.34, 0.56, 0.16), (0.52, 0.44, 0.2), (0.7, 0.56, 0.15)]
    base = 0.56 <= y <= 0.72 and 0.2 <= x <= 0.84
    return base or any(math.hypot(x - cx, y - cy) <= r for cx, cy, r in blobs)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name, fn in [("gateway", gateway), ("web", web), ("datastore", datastore), ("worker", worker), ("internet", internet)]:
        png(os.path.join(here, f"{name}.png"), render(fn))
        print(f"wrote {name}.png")


if __name__ == "__main__":
    main()
