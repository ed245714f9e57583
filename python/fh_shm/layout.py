"""The layouts fh writes into shared memory, byte for byte (the Rust side: `feed/shm/src/layout.rs`).

Every structure is plain little-endian integers at fixed offsets; the ctypes classes carry the
iceoryx2 type names the Rust publisher uses, and the numpy dtypes view the same bytes.
"""

import ctypes

import numpy as np

#: Most updates in one sample (a datagram with more is split over several samples); a sample's
#: length is its header's `count`.
MAX_SAMPLE_UPDATES = 240
#: Header flag: the sample carries the stream's last updates; nothing follows.
SAMPLE_END = 1
#: Header flag: the sample holds the last updates of its datagram.
SAMPLE_DATAGRAM_END = 2

#: Update kinds (`BookUpdate.kind`).
KINDS = ("add", "change", "delete", "trade", "status", "break")
ADD, CHANGE, DELETE, TRADE, STATUS, TRADE_BREAK = range(6)
#: Sides (`BookUpdate.side`).
SIDES = ("bid", "ask", "none")
BID, ASK, NO_SIDE = range(3)
#: Flag bits (`BookUpdate.flags`).
BEST_CHANGED, LAST_IN_EVENT, STALE, NON_PRINTABLE, CROSS = 1, 2, 4, 8, 16

#: Prices have 4 implied decimals.
PRICE_SCALE = 10_000


class BookUpdate(ctypes.Structure):
    """One book update, 64 bytes (offsets: seq 0, exch_ts 8, recv_ts 16, engine_ts 24, price 32,
    shares 40, order_count 48, instrument 52, kind 56, side 57, flags 58, reserved 60)."""

    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("exch_ts", ctypes.c_uint64),
        ("recv_ts", ctypes.c_uint64),
        ("engine_ts", ctypes.c_uint64),
        ("price", ctypes.c_int64),
        ("shares", ctypes.c_uint64),
        ("order_count", ctypes.c_uint32),
        ("instrument", ctypes.c_uint32),
        ("kind", ctypes.c_uint8),
        ("side", ctypes.c_uint8),
        ("flags", ctypes.c_uint16),
        ("reserved", ctypes.c_uint32),
    ]

    @staticmethod
    def type_name() -> str:
        return "fh::BookUpdate"


class SampleHeader(ctypes.Structure):
    """The user header of every sample, 32 bytes: the stream index of the sample's first update,
    CLOCK_MONOTONIC_RAW at send (ns), the publisher's run id, the update count, SAMPLE_* flags."""

    _fields_ = [
        ("first", ctypes.c_uint64),
        ("publish_ns", ctypes.c_uint64),
        ("run", ctypes.c_uint64),
        ("count", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
    ]

    @staticmethod
    def type_name() -> str:
        return "fh::SampleHeader"


#: numpy view of `BookUpdate`.
UPDATE_DTYPE = np.dtype(
    {
        "names": [f for f, _ in BookUpdate._fields_],
        "formats": ["<u8", "<u8", "<u8", "<u8", "<i8", "<u8", "<u4", "<u4", "u1", "u1", "<u2", "<u4"],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 52, 56, 57, 58, 60],
        "itemsize": 64,
    }
)

#: The top-of-book table: header 64 bytes, then one 64-byte row per instrument id.
TOP_MAGIC = b"FHTOP\x00\x00\x01"
TOP_ROW = 64
TOP_RUNNING, TOP_ENDED = 1, 2

TOP_HEADER_DTYPE = np.dtype(
    {
        "names": ["magic", "rows", "run", "pid", "updates", "state"],
        "formats": ["S8", "<u8", "<u8", "<u8", "<u8", "<u8"],
        "offsets": [0, 8, 16, 24, 32, 40],
        "itemsize": 64,
    }
)

#: One row: `version` is a sequence lock (odd while written), then the best bid and offer
#: (price with 4 implied decimals, shares; 0 shares: no such side), the feed sequence number and
#: exchange time of that state, and the space-padded symbol (all zero until named).
TOP_ROW_DTYPE = np.dtype(
    {
        "names": ["version", "bid_price", "bid_shares", "ask_price", "ask_shares", "seq", "exch_ts", "symbol"],
        "formats": ["<u8", "<i8", "<u8", "<i8", "<u8", "<u8", "<u8", "S8"],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 56],
        "itemsize": 64,
    }
)

assert ctypes.sizeof(BookUpdate) == 64 and UPDATE_DTYPE.itemsize == 64
assert ctypes.sizeof(SampleHeader) == 32
