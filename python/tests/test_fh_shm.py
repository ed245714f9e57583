"""Tests of the fh_shm package against a real publisher (`fh replay … --shm NAME`).

The `fh` binary is taken from $FH_BIN (the Rust test `tests/shm.rs` sets it), else
target/ci/fh of the workspace.
"""

import ctypes
import os
import subprocess
import tempfile
import time
import unittest

import numpy as np

import fh_shm
from fh_shm import Digest, Subscriber, UPDATE_DTYPE, BookUpdate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FH = os.environ.get("FH_BIN", os.path.join(ROOT, "target", "ci", "fh"))


def unique(tag):
    return f"py-{tag}-{os.getpid()}-{time.monotonic_ns() % 10**9}"


class Capture:
    """A generated capture and what a plain replay says of it (digest, last BBO rows)."""

    dir = None

    @classmethod
    def get(cls):
        if cls.dir is None:
            cls.dir = tempfile.mkdtemp(prefix="fh-shm-py-")
            cls.path = os.path.join(cls.dir, "g.pcap")
            subprocess.run([FH, "gen", "--out", cls.path, "--messages", "20000", "--seed", "5"], check=True, capture_output=True)
            csv = os.path.join(cls.dir, "ref.csv")
            out = subprocess.run([FH, "replay", cls.path, "--digest", "--bbo-csv", csv], check=True, capture_output=True, text=True).stdout
            cls.digest = [l.split()[1] for l in out.splitlines() if l.startswith("digest: ")][0]
            last = {}
            with open(csv) as f:
                for line in f.read().splitlines()[1:]:
                    last[line.split(",")[1]] = line
            cls.last_rows = last
        return cls


def publish(name, *extra, wait="1"):
    return subprocess.Popen([FH, "replay", Capture.get().path, "--shm", name, "--shm-wait", wait, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def figure(report, key):
    line = [l for l in report.splitlines() if l.startswith("shm: ")][0]
    for part in line[5:].split(", "):
        k, v = part.rsplit(" ", 1)
        if k == key:
            return int(v)
    raise KeyError(key)


def drain(sub, slow=0.0, limit=60.0):
    d = Digest()
    t0 = time.monotonic()
    views = 0
    while not sub.ended:
        assert time.monotonic() - t0 < limit, "the stream did not end"
        b = sub.receive()
        if b is None:
            time.sleep(0.0001)
            continue
        with b:
            if len(b.updates):
                # A view over the sample in shared memory: same address, read-only, no copy.
                assert b.updates.__array_interface__["data"][0] == b._sample.payload_ptr
                assert not b.updates.flags.writeable
                views += 1
            d.add_array(b.updates)
        if slow:
            time.sleep(slow)
    return d, views


def bbo_rows(sub):
    from fh_shm.tail import bbo_row
    return {r["symbol"]: bbo_row(r) for _, r in sub.table().quoted()}


class LayoutTest(unittest.TestCase):
    def test_ctypes_and_numpy_layouts_agree_with_the_documented_offsets(self):
        want = dict(seq=0, exch_ts=8, recv_ts=16, engine_ts=24, price=32, shares=40, order_count=48,
                    instrument=52, kind=56, side=57, flags=58, reserved=60)
        for f, off in want.items():
            self.assertEqual(getattr(BookUpdate, f).offset, off, f)
            self.assertEqual(UPDATE_DTYPE.fields[f][1], off, f)
        self.assertEqual(ctypes.sizeof(BookUpdate), 64)
        self.assertEqual(fh_shm.TOP_ROW_DTYPE.itemsize, 64)

    def test_digest_is_fhs(self):
        # fh's own digest of an empty stream and of one update (feed/src/engine/digest.rs).
        d = Digest()
        self.assertEqual(d.hex(), "cbf29ce484222325")
        a = np.zeros(1, dtype=UPDATE_DTYPE)
        a["seq"], a["price"], a["kind"] = 7, -5, 3
        d.add_array(a)
        e = Digest()
        e.add(7, 0, -5, 0, 0, 0, 3, 0, 0)
        self.assertEqual(d.hex(), e.hex())
        self.assertEqual(d.count, 1)


class StreamTest(unittest.TestCase):
    def run_one(self, *extra):
        cap = Capture.get()
        name = unique("digest")
        pub = publish(name, "--shm-buffer", "4096", *extra)
        sub = Subscriber(name, buffer=4096)
        d, views = drain(sub)
        out, err = pub.communicate(timeout=60)
        self.assertEqual(pub.returncode, 0, err)
        self.assertEqual(sub.missed, 0)
        self.assertEqual(sub.joined_at, 0)
        self.assertEqual(d.hex(), cap.digest)
        self.assertEqual(sub.received, figure(out, "updates"))
        # One zero-copy view per sample: the stream spans many samples, at least one per
        # MAX_SAMPLE_UPDATES updates.
        self.assertGreater(views, 50)
        self.assertGreaterEqual(views, sub.received // fh_shm.MAX_SAMPLE_UPDATES)
        self.assertEqual(bbo_rows(sub), cap.last_rows)
        sub.close()

    def test_unpaced_replay_gives_the_replays_digest_and_final_top_of_book(self):
        self.run_one()

    def test_paced_replay_gives_the_replays_digest_and_final_top_of_book(self):
        self.run_one("--speed", "20000")

    def test_a_slow_subscriber_counts_exactly_what_it_missed(self):
        name = unique("slow")
        pub = publish(name)
        sub = Subscriber(name, buffer=2)
        seen, expected, lost = 0, sub.joined_at, 0
        self.assertEqual(expected, 0, "subscribed before the publisher started (--shm-wait 1)")
        t0 = time.monotonic()
        while not sub.ended:
            self.assertLess(time.monotonic() - t0, 60)
            b = sub.receive()
            if b is None:
                time.sleep(0.0001)
                continue
            with b:
                self.assertEqual(b.first - expected, b.missed)
                lost += b.missed
                expected = b.first + b.count
                seen += len(b.updates)
            time.sleep(0.002)
        out, err = pub.communicate(timeout=60)
        self.assertEqual(pub.returncode, 0, err)
        total = figure(out, "updates")
        self.assertGreater(sub.missed, 0)
        self.assertEqual(sub.missed, lost)
        self.assertEqual(sub.received, seen)
        self.assertEqual(sub.received + sub.missed, total)
        self.assertEqual(figure(out, "dropped"), 0)

    def test_the_examples_track_the_whole_stream(self):
        import sys

        name = unique("examples")
        ex = os.path.join(ROOT, "python", "examples")
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
        subs = [
            subprocess.Popen([sys.executable, os.path.join(ex, f), name, *extra], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
            for f, extra in (("bbo_tracker.py", []), ("trade_tape.py", ["--quiet"]))
        ]
        pub = publish(name, "--shm-buffer", "4096", wait="2")
        out, err = pub.communicate(timeout=60)
        self.assertEqual(pub.returncode, 0, err)
        total = figure(out, "updates")
        outs = []
        for s in subs:
            o, e = s.communicate(timeout=60)
            self.assertEqual(s.returncode, 0, e)
            self.assertIn(f"received {total} updates, missed 0", o)
            outs.append(o)
        self.assertIn(" changes ", outs[0])
        self.assertIn(" vwap ", outs[1])

    def test_a_gone_publisher_leaves_its_last_samples_and_end_marker_to_receive(self):
        name = unique("gone")
        pub = publish(name, "--shm-buffer", "4096")
        sub = Subscriber(name, buffer=4096)
        out, err = pub.communicate(timeout=60)
        self.assertEqual(pub.returncode, 0, err)
        # Nothing read while the publisher ran: it is gone, its samples are not.
        self.assertFalse(sub.publisher_alive())
        self.assertFalse(sub.publisher_gone())
        drain(sub)
        self.assertTrue(sub.ended)
        self.assertEqual((sub.received, sub.missed), (figure(out, "updates"), 0))
        self.assertTrue(sub.publisher_gone())

    def test_a_missing_publisher_is_one_error(self):
        with self.assertRaises(fh_shm.ShmError):
            Subscriber(unique("none"), wait=0.1)
        with self.assertRaises(fh_shm.ShmError):
            Subscriber("bad/name")


def tearDownModule():
    if Capture.dir is not None:
        import shutil

        shutil.rmtree(Capture.dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
