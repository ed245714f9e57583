//! The live receiver and the wire sender, end to end inside a private network namespace:
//! datagrams sent by `fh_replay::wire` arrive byte-identical in the receive ring's slots, with
//! kernel timestamps, on the right group, and the kernel's drop counter is read exactly.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use fh_feed::live::{self, rx::flags, GroupSpec, LiveConfig, RxAgent, RxConsumer};
use fh_replay::wire::{self, Pacing, WireConfig, WireDatagram};
use fh_tests::netns;

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn group(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// Deterministic payload `i`: its index, then a pattern, 20..1400 bytes.
fn payload(i: u64) -> Vec<u8> {
    let len = 20 + ((i * 7919) % 1380) as usize;
    let mut v = i.to_le_bytes().to_vec();
    v.extend((8..len).map(|k| (k as u64 ^ i.wrapping_mul(31)) as u8));
    v
}

fn cfg(groups: &[GroupSpec], rcvbuf: usize) -> LiveConfig {
    LiveConfig {
        groups: groups.to_vec(),
        iface: LO,
        rcvbuf,
        slots: 1 << 12,
        ..LiveConfig::default()
    }
}

fn send(to: SocketAddrV4, pacing: Pacing, payloads: &[Vec<u8>]) -> wire::SendReport {
    let mut c = WireConfig::new(to);
    c.iface = Some(LO);
    c.pacing = pacing;
    wire::send_datagrams(&c, || {
        Ok(payloads.iter().enumerate().map(move |(i, p)| WireDatagram {
            ts_ns: 1_000_000 * i as u64,
            dst: to,
            payload: p,
        }))
    })
    .expect("send")
}

/// Drives the receive agent and drains consumer 0 until `n` datagrams were read or `limit`.
fn receive(
    agent: &mut RxAgent,
    cons: &mut RxConsumer,
    n: usize,
    limit: Duration,
    mut f: impl FnMut(live::RxPacket<'_>),
) -> usize {
    let t0 = Instant::now();
    let mut got = 0;
    while got < n && t0.elapsed() < limit {
        if agent.receive() == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
        let b = cons.poll(256);
        for p in b.iter() {
            f(p);
        }
        got += b.len();
    }
    got
}

#[test]
fn sent_datagrams_arrive_byte_identical_with_kernel_timestamps() {
    if !netns::enter("sent_datagrams_arrive_byte_identical_with_kernel_timestamps") {
        return;
    }
    let g = group("239.1.2.3:31001");
    let spec = GroupSpec {
        group: g,
        source: None,
    };
    let (mut agent, mut cons) = live::open(&cfg(&[spec], 32 << 20), 1).expect("open");
    let sock = &agent.sockets()[0];
    if sock.rcvbuf_forced {
        assert!(
            sock.rcvbuf_granted >= 32 << 20,
            "SO_RCVBUFFORCE grants the request"
        );
    } else {
        // A user namespace: SO_RCVBUF, capped by net.core.rmem_max.
        assert!(sock.rcvbuf_granted > 0);
        eprintln!("note: SO_RCVBUF capped at {} bytes", sock.rcvbuf_granted);
    }
    let n = 3000u64;
    let payloads: Vec<Vec<u8>> = (0..n).map(payload).collect();
    let p2 = payloads.clone();
    let sender = std::thread::spawn(move || send(g, Pacing::Pps(50_000), &p2));
    let mut next = 0u64;
    let mut c0 = cons.remove(0);
    let got = receive(
        &mut agent,
        &mut c0,
        n as usize,
        Duration::from_secs(30),
        |p| {
            let i = u64::from_le_bytes(p.bytes[..8].try_into().unwrap());
            assert_eq!(i, next, "datagrams in order");
            assert_eq!(
                p.bytes,
                &payloads[i as usize][..],
                "datagram {i} byte-identical"
            );
            assert_eq!(p.meta.flags & (flags::TRUNCATED | flags::NO_KERNEL_TS), 0);
            assert!(
                p.meta.kernel_ns <= p.meta.agent_ns,
                "kernel stamp before the agent saw it"
            );
            assert!(p.meta.agent_ns - p.meta.kernel_ns < 10_000_000_000);
            assert_eq!(p.meta.kernel_drops, 0);
            assert_eq!(p.meta.group, 0);
            assert_eq!(*p.meta.src.ip(), LO);
            next += 1;
        },
    );
    let rep = sender.join().unwrap();
    assert_eq!(rep.packets, n);
    assert_eq!(got as u64, n, "every datagram arrived");
    // Absolute deadlines: never early, so n datagrams at 50k/s take at least (n-1)/50k s.
    assert!(rep.elapsed >= Duration::from_micros((n - 1) * 20));
    assert!(rep.pacing.is_some());
    let s = agent.stats().snapshot();
    assert_eq!(
        (s.packets, s.kernel_drops, s.truncated, s.errors),
        (n, 0, 0, 0)
    );
    assert_eq!(
        s.bytes,
        payloads.iter().map(|p| p.len() as u64).sum::<u64>()
    );
}

#[test]
fn kernel_drop_counter_is_exact() {
    if !netns::enter("kernel_drop_counter_is_exact") {
        return;
    }
    let g = group("239.1.2.4:31002");
    let spec = GroupSpec {
        group: g,
        source: None,
    };
    // A tiny buffer, and nobody reading while 2000 datagrams arrive: most are dropped.
    let (mut agent, mut cons) = live::open(&cfg(&[spec], 4096), 1).expect("open");
    let burst: Vec<Vec<u8>> = (0..2000).map(payload).collect();
    send(g, Pacing::TopSpeed, &burst);
    let mut c0 = cons.remove(0);
    let queued = receive(
        &mut agent,
        &mut c0,
        2000,
        Duration::from_millis(300),
        |_| {},
    );
    assert!(queued < 2000, "a 4 KiB buffer cannot hold 2000 datagrams");
    // The next datagram carries the socket's drop count: exactly the ones that did not fit.
    let last = vec![payload(5000)];
    send(g, Pacing::TopSpeed, &last);
    let mut drops = None;
    receive(&mut agent, &mut c0, 1, Duration::from_secs(10), |p| {
        drops = Some(p.meta.kernel_drops)
    });
    assert_eq!(drops, Some(2000 - queued as u32));
    assert_eq!(agent.stats().snapshot().kernel_drops, 2000 - queued as u64);
}

#[test]
fn groups_are_kept_apart_and_source_specific_joins_filter() {
    if !netns::enter("groups_are_kept_apart_and_source_specific_joins_filter") {
        return;
    }
    let a = group("239.1.2.5:31003");
    let b = group("239.1.2.6:31003"); // same port, other group
    let c = group("232.1.2.7:31004"); // SSM range, joined for a source that never sends
    let specs = [
        GroupSpec {
            group: a,
            source: None,
        },
        GroupSpec {
            group: b,
            source: Some(LO),
        },
        GroupSpec {
            group: c,
            source: Some(Ipv4Addr::new(10, 9, 9, 9)),
        },
    ];
    // Two readers: both see every datagram, in the same order.
    let (mut agent, mut cons) = live::open(&cfg(&specs, 8 << 20), 2).expect("open");
    let pa: Vec<Vec<u8>> = (0..100).map(payload).collect();
    let pb: Vec<Vec<u8>> = (100..150).map(payload).collect();
    let pc: Vec<Vec<u8>> = (200..210).map(payload).collect();
    send(a, Pacing::TopSpeed, &pa);
    send(b, Pacing::TopSpeed, &pb);
    send(c, Pacing::TopSpeed, &pc);
    let mut c1 = cons.pop().unwrap();
    let mut c0 = cons.pop().unwrap();
    let mut seen0 = Vec::new();
    let got = receive(&mut agent, &mut c0, 150, Duration::from_secs(10), |p| {
        seen0.push((p.meta.group, p.bytes.to_vec()))
    });
    assert_eq!(got, 150);
    // Nothing more arrives (group c's source never sent).
    let extra = receive(&mut agent, &mut c0, 1, Duration::from_millis(200), |_| {});
    assert_eq!(extra, 0);
    let seen1: Vec<_> = c1
        .poll(1000)
        .iter()
        .map(|p| (p.meta.group, p.bytes.to_vec()))
        .collect();
    assert_eq!(seen0, seen1);
    let from_a: Vec<_> = seen0
        .iter()
        .filter(|(g, _)| *g == 0)
        .map(|(_, b)| b.clone())
        .collect();
    let from_b: Vec<_> = seen0
        .iter()
        .filter(|(g, _)| *g == 1)
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(from_a, pa);
    assert_eq!(from_b, pb);
    assert_eq!(agent.stats().group_packets(), vec![100, 50, 0]);
}

#[test]
fn a_full_ring_holds_back_the_receiver_and_loses_nothing_it_took() {
    if !netns::enter("a_full_ring_holds_back_the_receiver_and_loses_nothing_it_took") {
        return;
    }
    let g = group("239.1.2.8:31005");
    let spec = GroupSpec {
        group: g,
        source: None,
    };
    let mut c = cfg(&[spec], 16 << 20);
    c.slots = 64;
    c.slot_size = 256; // datagrams up to 1400 bytes: most are cut
    let (mut agent, mut cons) = live::open(&c, 1).expect("open");
    let ps: Vec<Vec<u8>> = (0..500).map(payload).collect();
    send(g, Pacing::TopSpeed, &ps);
    // The reader does not read: the agent fills 64 slots, then reports a full ring.
    for _ in 0..20 {
        agent.receive();
    }
    assert_eq!(agent.producer().published(), 64);
    assert!(agent.stats().snapshot().ring_full > 0);
    let mut c0 = cons.remove(0);
    let mut i = 0usize;
    let got = receive(&mut agent, &mut c0, 500, Duration::from_secs(10), |p| {
        let want = &ps[i];
        let cut = want.len() > 256;
        assert_eq!(p.meta.flags & flags::TRUNCATED != 0, cut);
        assert_eq!(p.bytes, &want[..want.len().min(256)]);
        i += 1;
    });
    assert_eq!(got, 500);
    let s = agent.stats().snapshot();
    assert_eq!(
        s.truncated,
        ps.iter().filter(|p| p.len() > 256).count() as u64
    );
    assert_eq!(s.kernel_drops, 0);
}

#[test]
fn loops_and_maps_rewrite_what_is_sent() {
    if !netns::enter("loops_and_maps_rewrite_what_is_sent") {
        return;
    }
    let captured_a = group("233.9.9.1:5001");
    let captured_b = group("233.9.9.2:5002");
    let to = group("239.1.2.9:31006");
    let mapped = group("239.1.2.10:31007");
    let specs = [
        GroupSpec {
            group: to,
            source: None,
        },
        GroupSpec {
            group: mapped,
            source: None,
        },
    ];
    let (mut agent, mut cons) = live::open(&cfg(&specs, 8 << 20), 1).expect("open");
    let ps: Vec<Vec<u8>> = (0..40).map(payload).collect();
    let mut c = WireConfig::new(to);
    c.iface = Some(LO);
    c.pacing = Pacing::TopSpeed;
    c.loops = 3;
    c.maps.push(wire::GroupMap {
        from: captured_b,
        to: mapped,
    });
    // Even datagrams were captured to A (not mapped: sent to --to), odd ones to B (mapped).
    let rep = wire::send_datagrams(&c, || {
        Ok(ps.iter().enumerate().map(|(i, p)| WireDatagram {
            ts_ns: i as u64,
            dst: if i % 2 == 0 { captured_a } else { captured_b },
            payload: p,
        }))
    })
    .unwrap();
    assert_eq!(rep.packets, 120);
    assert!(rep.pacing.is_none(), "no pacing errors at top speed");
    let mut c0 = cons.remove(0);
    let mut seen = [Vec::new(), Vec::new()];
    let got = receive(&mut agent, &mut c0, 120, Duration::from_secs(10), |p| {
        seen[p.meta.group as usize].push(u64::from_le_bytes(p.bytes[..8].try_into().unwrap()))
    });
    assert_eq!(got, 120);
    let evens: Vec<u64> = (0..3).flat_map(|_| (0..40).step_by(2)).collect();
    let odds: Vec<u64> = (0..3).flat_map(|_| (1..40).step_by(2)).collect();
    assert_eq!(seen[0], evens, "unmapped datagrams go to --to, three loops");
    assert_eq!(seen[1], odds, "mapped datagrams go to the map's group");
}
