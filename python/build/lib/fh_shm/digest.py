"""The digest of an update stream, the same function as fh's (`feed/src/engine/digest.rs`): equal
digests mean identical streams of (seq, exch_ts, price, shares, order_count, instrument, kind,
side, flags), local times excluded."""

_P = (
    0xA0761D6478BD642F,
    0xE7037ED1A0B428DB,
    0x8EBC6AF09C88C6E3,
    0x589965CC75374CC3,
    0x1D8E4E27C47D124F,
    0x00000100000001B3,
    0x9E3779B97F4A7C15,
    0xCBF29CE484222325,
)
_M = (1 << 64) - 1


def _mum(a: int, b: int) -> int:
    r = a * b
    return (r & _M) ^ (r >> 64)


class Digest:
    """Folds updates one by one (`add`) or a numpy array of them (`add_array`)."""

    def __init__(self) -> None:
        self.h = _P[7]
        self.count = 0

    def add(self, seq, exch_ts, price, shares, order_count, instrument, kind, side, flags) -> None:
        w5 = (order_count & 0xFFFFFFFF) | ((instrument & 0xFFFFFFFF) << 32)
        w6 = (kind & 0xFF) | ((side & 0xFF) << 8) | ((flags & 0xFFFF) << 16)
        x1 = _mum(seq ^ _P[0], exch_ts ^ _P[1])
        x2 = _mum((price & _M) ^ _P[2], shares ^ _P[3])
        x3 = _mum(w5 ^ _P[4], w6 ^ _P[5])
        self.h = _mum(self.h ^ x1, x2 ^ x3 ^ _P[6])
        self.count += 1

    def add_array(self, a) -> None:
        """Folds every update of a structured array of `UPDATE_DTYPE`."""
        cols = [a[f].tolist() for f in ("seq", "exch_ts", "price", "shares", "order_count", "instrument", "kind", "side", "flags")]
        for row in zip(*cols):
            self.add(*row)

    def hex(self) -> str:
        return f"{self.h:016x}"
