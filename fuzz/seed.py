#!/usr/bin/env python3
"""Seeds the fuzz corpora from the real captures and fixtures in ../shared (never committed).

usage: fuzz/seed.py SHARED_DIR   (writes fuzz/corpus/{itch_packet,iex_segment,capture_reader}/)

itch_packet and iex_segment get UDP payloads (MoldUDP64 / IEX-TP) cut out of the classic pcaps;
capture_reader gets whole small capture files (pcap, pcapng, the fixtures).
"""
import os, struct, sys, hashlib

def payloads(path):
    """UDP payloads of an Ethernet classic pcap (802.1Q tags skipped)."""
    data = open(path, 'rb').read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        e = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        e = '>'
    else:
        return  # pcapng: whole-file seed only
    if struct.unpack(e + 'I', data[20:24])[0] != 1:
        return
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        p, et = 14, frame[12:14]
        while et in (b'\x81\x00', b'\x88\xa8', b'\x91\x00'):
            et, p = frame[p + 2:p + 4], p + 4
        if et != b'\x08\x00' or len(frame) < p + 28 or frame[p + 9] != 17:
            continue
        ihl = (frame[p] & 15) * 4
        yield frame[p + ihl + 8:]

def put(dir, blob):
    os.makedirs(dir, exist_ok=True)
    with open(os.path.join(dir, hashlib.sha1(blob).hexdigest()), 'wb') as f:
        f.write(blob)

def main():
    shared = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.join(here, 'corpus')
    real = os.path.join(shared, 'pcaps', 'real')
    n = {'itch_packet': 0, 'iex_segment': 0, 'capture_reader': 0}
    for root, _, files in os.walk(real):
        for name in sorted(files):
            if not name.endswith('.pcap'):
                continue
            path = os.path.join(root, name)
            if os.path.getsize(path) <= 64 * 1024:
                put(os.path.join(corpus, 'capture_reader'), open(path, 'rb').read())
                n['capture_reader'] += 1
            target = 'itch_packet' if 'Itch' in root else 'iex_segment' if 'Iex' in root or 'iex' in root else None
            if target is None:
                continue
            for k, p in enumerate(payloads(path)):
                if k >= 200:
                    break
                put(os.path.join(corpus, target), p)
                n[target] += 1
    fixtures = os.path.join(shared, 'specs', 'fixtures')
    for name in sorted(os.listdir(fixtures)) if os.path.isdir(fixtures) else []:
        if name.endswith(('.pcap', '.pcapng')):
            put(os.path.join(corpus, 'capture_reader'), open(os.path.join(fixtures, name), 'rb').read())
            n['capture_reader'] += 1
    print('seeded', ', '.join(f'{k} {v}' for k, v in n.items()))

main()
