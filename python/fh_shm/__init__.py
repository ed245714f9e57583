"""fh_shm: read the fh feed handler's book updates and top of book from shared memory.

`fh replay FILE --shm NAME` or `fh live … --shm NAME` publishes the book updates of each datagram (or burst of them) as
one iceoryx2 sample on the service `fh/NAME/updates` and keeps the top of book of every
instrument (with its symbol) in the table `/dev/shm/fh-NAME.top`. A `Subscriber` receives the
samples as numpy structured arrays over the shared memory (no copy), counts exactly how many
updates it missed, and reads the table.

    from fh_shm import Subscriber
    sub = Subscriber("feed")
    while not sub.ended:
        b = sub.receive()
        if b is None:
            continue
        with b:
            trades = b.updates[b.updates["kind"] == 3]
"""

from .digest import Digest
from .layout import (
    ADD,
    ASK,
    BEST_CHANGED,
    BID,
    CHANGE,
    CROSS,
    DELETE,
    KINDS,
    LAST_IN_EVENT,
    MAX_SAMPLE_UPDATES,
    NO_SIDE,
    NON_PRINTABLE,
    PRICE_SCALE,
    SAMPLE_DATAGRAM_END,
    SAMPLE_END,
    SIDES,
    STALE,
    STATUS,
    TOP_ROW_DTYPE,
    TRADE,
    TRADE_BREAK,
    UPDATE_DTYPE,
    BookUpdate,
    SampleHeader,
)
from .subscriber import Batch, ShmError, Subscriber, TopTable, table_path, updates_service_name

__all__ = [
    "ADD", "ASK", "BEST_CHANGED", "BID", "CHANGE", "CROSS", "DELETE", "KINDS", "LAST_IN_EVENT",
    "MAX_SAMPLE_UPDATES", "NO_SIDE", "NON_PRINTABLE", "PRICE_SCALE", "SAMPLE_DATAGRAM_END",
    "SAMPLE_END", "SIDES", "STALE", "STATUS", "TOP_ROW_DTYPE", "TRADE", "TRADE_BREAK",
    "UPDATE_DTYPE", "Batch", "BookUpdate", "Digest", "SampleHeader", "ShmError", "Subscriber",
    "TopTable", "table_path", "updates_service_name",
]
