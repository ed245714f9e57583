"""Subscribing to `fh replay|live … --shm NAME`: the updates as numpy views over the publisher's
shared memory, the exact count of updates missed, and the top-of-book table."""

import ctypes
import mmap
import re
import time
from typing import Optional

import iceoryx2 as iox2
import numpy as np

from .layout import (
    SAMPLE_END,
    TOP_HEADER_DTYPE,
    TOP_ENDED,
    TOP_MAGIC,
    TOP_ROW,
    TOP_ROW_DTYPE,
    UPDATE_DTYPE,
    BookUpdate,
    SampleHeader,
)

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,48}$")


def updates_service_name(name: str) -> str:
    """The iceoryx2 service of publisher `name`."""
    return f"fh/{name}/updates"


def table_path(name: str) -> str:
    """The top-of-book table of publisher `name`."""
    return f"/dev/shm/fh-{name}.top"


def _value(x):
    return x() if callable(x) else x


class ShmError(Exception):
    """Subscribing failed (no such service, bad name, bad table)."""


class Batch:
    """One received sample: the updates of one datagram, or of several handled back to back.

    `updates` is a read-only numpy structured array (`UPDATE_DTYPE`) over the sample in shared
    memory, not a copy; it is valid until `release()` (or the end of a `with` block), after
    which the publisher may reuse the memory. `missed` counts the updates lost right before it.
    """

    __slots__ = ("_sample", "first", "count", "flags", "publish_ns", "run", "missed", "updates")

    def __init__(self, sample, header, missed: int) -> None:
        self._sample = sample
        self.first = header.first
        self.count = header.count
        self.flags = header.flags
        self.publish_ns = header.publish_ns
        self.run = header.run
        self.missed = missed
        n = min(self.count, sample.payload().len())
        if n == 0:
            self.updates = np.empty(0, dtype=UPDATE_DTYPE)
        else:
            buf = (ctypes.c_char * (n * UPDATE_DTYPE.itemsize)).from_address(sample.payload_ptr)
            self.updates = np.frombuffer(buf, dtype=UPDATE_DTYPE, count=n)
        self.updates.flags.writeable = False

    @property
    def is_end(self) -> bool:
        """Whether this is the end-of-stream marker."""
        return bool(self.flags & SAMPLE_END)

    def release(self) -> None:
        """Gives the sample back (the `updates` view must not be read afterwards)."""
        if self._sample is not None:
            self.updates = None
            self._sample.delete()
            self._sample = None

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class TopTable:
    """The top-of-book table, mapped read-only: one row per instrument id (`TOP_ROW_DTYPE`)."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        if len(self._mm) < TOP_ROW or len(self._mm) % TOP_ROW or self._mm[:8] != TOP_MAGIC:
            raise ShmError(f"{path}: not a top-of-book table")
        self.header = np.frombuffer(self._mm, dtype=TOP_HEADER_DTYPE, count=1)
        self.rows = np.frombuffer(self._mm, dtype=TOP_ROW_DTYPE, offset=TOP_ROW)
        if len(self.rows) != int(self.header["rows"][0]):
            raise ShmError(f"{path}: not a top-of-book table (rows)")

    @property
    def run(self) -> int:
        return int(self.header["run"][0])

    @property
    def ended(self) -> bool:
        return int(self.header["state"][0]) == TOP_ENDED

    @property
    def updates(self) -> int:
        """Updates published so far."""
        return int(self.header["updates"][0])

    def row(self, instrument: int) -> Optional[dict]:
        """Row `instrument`, read whole under its sequence lock (None outside the table).

        The publisher makes `version` odd while it writes a row; a copy is kept only if `version`
        was even and unchanged around it (x86 keeps loads in order, which this relies on).
        """
        if not 0 <= instrument < len(self.rows):
            return None
        v = self.rows["version"]
        while True:
            v1 = int(v[instrument])
            r = self.rows[instrument].copy()
            if v1 % 2 == 0 and int(v[instrument]) == v1:
                return _row_dict(r)

    def find(self, symbol: str) -> Optional[int]:
        """The first instrument id named `symbol`."""
        want = symbol.encode().ljust(8, b" ")[:8]
        hits = np.nonzero(self.rows["symbol"] == want)[0]
        return int(hits[0]) if len(hits) else None

    def quoted(self) -> list:
        """Every instrument with a top of book, as (id, row dict)."""
        return [(int(i), self.row(int(i))) for i in np.nonzero(self.rows["version"])[0]]


def _row_dict(r) -> dict:
    sym = bytes(r["symbol"]).rstrip(b" \x00").decode("ascii", "replace")
    return {
        "version": int(r["version"]),
        "bid_price": int(r["bid_price"]),
        "bid_shares": int(r["bid_shares"]),
        "ask_price": int(r["ask_price"]),
        "ask_shares": int(r["ask_shares"]),
        "seq": int(r["seq"]),
        "exch_ts": int(r["exch_ts"]),
        "symbol": sym or None,
    }


class Subscriber:
    """A subscriber of `fh/NAME/updates`.

    `receive()` returns the next `Batch` or None (never waits). `missed` is exact: every update
    has a stream index, so a gap between samples is the number of updates this subscriber's
    queue lost (it overflows, oldest first, when the subscriber falls `buffer` samples behind).
    """

    def __init__(self, name: str, buffer: int = 1024, wait: float = 10.0) -> None:
        if not _NAME.match(name):
            raise ShmError(f"shm name {name!r}: 1 to 48 characters of A-Z a-z 0-9 _ -")
        self.name = name
        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
        self._node = (
            iox2.NodeBuilder.new()
            .name(iox2.NodeName.new(f"fh-{name}-sub"))
            .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
            .create(iox2.ServiceType.Ipc)
        )
        try:
            self._node.try_cleanup_dead_nodes()
        except Exception:
            pass
        service_name = iox2.ServiceName.new(updates_service_name(name))
        deadline = time.monotonic() + wait
        while True:
            try:
                self._service = (
                    self._node.service_builder(service_name)
                    .publish_subscribe(iox2.Slice[BookUpdate])
                    .user_header(SampleHeader)
                    .open()
                )
                break
            except Exception as e:
                if time.monotonic() >= deadline:
                    raise ShmError(f"shm {name}: no service {updates_service_name(name)} after {wait} s: {e}") from e
                time.sleep(0.01)
        most = _value(_value(self._service.static_config).subscriber_max_buffer_size)
        self._sub = self._service.subscriber_builder().buffer_size(max(1, min(buffer, most))).create()
        # Every sample sent from now on reaches this subscriber (or counts as missed by it): the
        # publisher connects new subscribers before its next send, and the table's `updates` is
        # the next sample's `first` once a send is done. Without a table nothing was sent yet.
        try:
            self._table: Optional[TopTable] = TopTable(table_path(name))
        except (OSError, ShmError):
            self._table = None
        self.run = self._table.run if self._table is not None else 0
        self._next: Optional[int] = self._table.updates if self._table is not None else 0
        self.joined_at: Optional[int] = self._next
        self.missed = 0
        self.received = 0
        self.samples = 0
        self.ended = False

    def receive(self) -> Optional[Batch]:
        """The next sample as a `Batch`, or None if there is none now."""
        sample = self._sub.receive()
        if sample is None:
            return None
        h = sample.user_header().contents
        if self.run == 0:
            self.run = h.run
        elif h.run != self.run:
            # Another publisher run than the table said: its numbering starts again.
            self.run, self._next, self.joined_at, self.ended = h.run, None, None, False
        if self._next is None:
            self.joined_at = h.first
            missed = 0
        else:
            missed = max(0, h.first - self._next)
        self.missed += missed
        self._next = h.first + h.count
        self.received += h.count
        self.samples += 1
        self.ended = self.ended or bool(h.flags & SAMPLE_END)
        if self._table is None or self._table.run != self.run:
            # Mapped now, while the publisher is surely there (it removes the file at its end;
            # a mapping outlives that).
            self.table()
        return Batch(sample, h, missed)

    def publisher_alive(self) -> bool:
        """Whether a publisher is connected (one that is not may still have left samples to
        receive: use `publisher_gone()` to tell whether the stream is over)."""
        return _value(_value(self._service.dynamic_config).number_of_publishers) > 0

    def publisher_gone(self) -> bool:
        """Whether the publisher is gone and left nothing to receive: the stream is over
        (without its end marker if `ended` is False).

        The publisher sends its last samples and its end marker just before it leaves, so an
        empty `receive()` followed by "no publisher" does not mean the stream was cut. This
        checks the publisher first, then this subscriber's queue (iceoryx2 keeps a gone
        publisher's undelivered samples receivable)."""
        if self.publisher_alive():
            return False
        return not self._sub.has_samples()

    def table(self) -> Optional[TopTable]:
        """The top-of-book table (None while there is none); mapped again for a new run."""
        if self._table is None or (self.run and self._table.run != self.run):
            try:
                self._table = TopTable(table_path(self.name))
            except (OSError, ShmError):
                pass
        return self._table

    def top(self, instrument: int) -> Optional[dict]:
        """The top of book of `instrument` now."""
        t = self.table()
        return t.row(instrument) if t is not None else None

    def close(self) -> None:
        """Unsubscribes."""
        self._sub = None
        self._service = None
        self._node = None

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
