//! What the shared-memory publisher allocates on the engine's hot path: after start-up and a
//! warm-up, writing updates in place, updating the top-of-book table and sending (to a
//! connected subscriber) allocate nothing; loaning the sample allocates exactly once per
//! sample, inside iceoryx2 0.10 (each loan makes its `ChunkMutSharedState`, an `Rc`). The
//! test pins that count, so any further allocation fails it.

use fh_feed::directory::SymbolDirectory;
use fh_feed::engine::levels::Bbo;
use fh_feed::pipeline::tap::Tapped;
use fh_feed::update::{BookUpdate, Flags};
use fh_shm::{ServiceSettings, ShmPublisher, Subscriber, SubscriberOptions};
use fh_tests::alloc::counted;

fn datagram(p: &mut Tapped<ShmPublisher>, seq: &mut u64) {
    for k in 0..5u32 {
        *seq += 1;
        let u = BookUpdate {
            seq: *seq,
            instrument: 1 + k,
            price: 1_000_000,
            shares: *seq,
            flags: Flags::LAST_IN_EVENT | Flags::BEST_CHANGED,
            ..Default::default()
        };
        p.push(&u);
        let b = Bbo {
            bid: Some((1_000_000, *seq)),
            ask: Some((1_000_100, 1)),
        };
        p.bbo(*seq, 1 + k, &b);
    }
    p.datagram_end();
    p.idle();
}

#[test]
fn publishing_in_shared_memory_allocates_only_in_iceoryx2s_loan() {
    let name = format!("t-noalloc-{}", std::process::id());
    let p = ShmPublisher::create(&name, &ServiceSettings::default(), 64).unwrap();
    let dir = SymbolDirectory::new(64);
    for k in 1..6 {
        dir.set(k, b"SYM     ");
    }
    let mut p = Tapped::new(p, &dir);
    let mut sub = Subscriber::open(&name, &SubscriberOptions::default()).unwrap();
    let mut seq = 0;
    for _ in 0..100 {
        datagram(&mut p, &mut seq);
    }
    let mut got = 0;
    while let Some(b) = sub.receive().unwrap() {
        got += b.updates().len();
    }
    assert_eq!(got, 500);
    let mut allocs = 0;
    for _ in 0..20 {
        let ((), n) = counted(|| {
            for _ in 0..500 {
                datagram(&mut p, &mut seq);
            }
        });
        allocs += n;
        while let Some(b) = sub.receive().unwrap() {
            got += b.updates().len();
        }
    }
    assert_eq!(got, 500 + 20 * 500 * 5, "the subscriber got every update");
    assert_eq!(sub.missed(), 0);
    assert_eq!(
        allocs,
        20 * 500,
        "{allocs} allocations publishing 10 000 datagrams of 5 updates: one per loaned sample"
    );
    assert_eq!(p.tap.stats().samples, 100 + 20 * 500);
}
