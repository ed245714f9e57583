//! Wire sender: puts captured UDP payloads back on multicast, byte for byte.
//!
//! ```text
//!  capture ─► frame::udp_payload ─► WireDatagram { ts_ns, dst, payload }   (a slice of the map)
//!                                        │ dst rewritten by --map / --to
//!                                        │ paced against absolute deadlines (sleep, then spin)
//!                                        ▼
//!                          sendmmsg batches of due datagrams ─► UDP socket, TTL 0, loop on
//! ```
//!
//! ## Invariants
//! - **Byte for byte**: the payload sent is the captured UDP payload, never copied or altered
//!   (the `iovec`s point into the caller's bytes, normally the capture's memory map).
//! - **Nothing leaves the host unless asked**: destinations must be multicast groups, the
//!   multicast TTL defaults to 0 and multicast loop is on, so datagrams reach only local
//!   receivers.
//! - **Absolute deadlines**: packet *i* is due at `start + (ts_i − ts_0) / speed` (or
//!   `start + i / pps`); the sender sleeps until shortly before the deadline and spins the rest,
//!   so errors never accumulate. A batch holds only datagrams already due; at top speed a batch
//!   holds up to [`WireConfig::batch`] datagrams.
//! - Every loop is bounded: by the number of datagrams times `--loop`.
//! - The only `unsafe` of this crate is the `sendmmsg` call and the C structures it reads, in
//!   [`Sender::flush`], each block with a `// SAFETY:` note.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::capture::Capture;
use crate::frame;
use crate::pace;

/// One datagram to send: its capture timestamp, its captured destination and its payload.
#[derive(Clone, Copy, Debug)]
pub struct WireDatagram<'a> {
    /// Capture timestamp, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Destination in the capture (rewritten by [`WireConfig::destination`]).
    pub dst: SocketAddrV4,
    /// The UDP payload, sent as is.
    pub payload: &'a [u8],
}

/// How fast to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Follow the capture's timestamps, `x` times faster (1.0 = as captured).
    Speed(f64),
    /// A fixed rate of datagrams per second, ignoring the timestamps.
    Pps(u64),
    /// As fast as `sendmmsg` goes.
    TopSpeed,
}

/// `--map CAPTURED_G:P=G:P`: datagrams captured to `from` are sent to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupMap {
    /// The destination in the capture.
    pub from: SocketAddrV4,
    /// Where to send them.
    pub to: SocketAddrV4,
}

impl FromStr for GroupMap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('=')
            .ok_or_else(|| format!("--map '{s}': expected CAPTURED_GROUP:PORT=GROUP:PORT"))?;
        let from = a
            .parse()
            .map_err(|_| format!("--map '{s}': '{a}' is not an IPv4 GROUP:PORT"))?;
        let to = b
            .parse()
            .map_err(|_| format!("--map '{s}': '{b}' is not an IPv4 GROUP:PORT"))?;
        Ok(GroupMap { from, to })
    }
}

/// Everything the sender needs.
#[derive(Clone, Debug)]
pub struct WireConfig {
    /// Destination of every datagram not matched by a [`GroupMap`].
    pub to: SocketAddrV4,
    /// Per-destination rewrites, tried first.
    pub maps: Vec<GroupMap>,
    /// Local interface address to send from (`IP_MULTICAST_IF`); the route decides when `None`.
    pub iface: Option<Ipv4Addr>,
    /// Pacing.
    pub pacing: Pacing,
    /// How many times to send the whole capture (at least 1).
    pub loops: u32,
    /// Multicast TTL: 0 keeps every datagram on this host.
    pub ttl: u32,
    /// Multicast loop (local receivers get a copy); on by default.
    pub multicast_loop: bool,
    /// Most datagrams per `sendmmsg` call.
    pub batch: usize,
    /// How long before a deadline the sender stops sleeping and spins.
    pub spin: Duration,
}

impl WireConfig {
    /// A configuration sending everything to `to`, as captured (speed 1), once, TTL 0.
    pub fn new(to: SocketAddrV4) -> Self {
        WireConfig {
            to,
            maps: Vec::new(),
            iface: None,
            pacing: Pacing::Speed(1.0),
            loops: 1,
            ttl: 0,
            multicast_loop: true,
            batch: 64,
            spin: pace::DEFAULT_SPIN,
        }
    }

    /// Where a datagram captured to `captured` goes.
    pub fn destination(&self, captured: SocketAddrV4) -> SocketAddrV4 {
        self.maps
            .iter()
            .find(|m| m.from == captured)
            .map_or(self.to, |m| m.to)
    }

    /// Checks the configuration: multicast destinations only, sane pacing and batch.
    pub fn validate(&self) -> Result<(), WireError> {
        let dests = std::iter::once(self.to).chain(self.maps.iter().map(|m| m.to));
        for d in dests {
            if !d.ip().is_multicast() {
                return Err(WireError(format!(
                    "destination {d} is not a multicast group (224.0.0.0/4): the wire sender only sends to groups"
                )));
            }
        }
        match self.pacing {
            Pacing::Speed(x) => {
                pace::check_speed(x).map_err(WireError)?;
            }
            Pacing::Pps(0) => return Err(WireError("--pps 0: must be at least 1".into())),
            _ => {}
        }
        if self.ttl > 255 {
            return Err(WireError(format!("--ttl {}: must be 0..=255", self.ttl)));
        }
        if self.batch == 0 || self.batch > 1024 {
            return Err(WireError(format!("batch {}: must be 1..=1024", self.batch)));
        }
        Ok(())
    }
}

/// A sender error: one line naming the value, the file or the system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

/// Pacing error percentiles: how late each datagram left against its deadline, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacingErrors {
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Worst.
    pub max_ns: u64,
}

/// What the sender did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SendReport {
    /// Datagrams sent.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// `sendmmsg` calls made.
    pub send_calls: u64,
    /// Times the kernel pushed back (`ENOBUFS`/`EAGAIN`) and the batch was retried.
    pub retries: u64,
    /// Wall time from the first deadline to the last send.
    pub elapsed: Duration,
    /// Captured frames that held no UDP datagram (skipped, per pass).
    pub skipped_frames: u64,
    /// Byte offset where the capture is cut off, if it is (every complete record was sent).
    pub truncated_at: Option<u64>,
    /// Pacing error percentiles (`None` at top speed).
    pub pacing: Option<PacingErrors>,
}

impl SendReport {
    /// Achieved rate, datagrams per second.
    pub fn pps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets as f64 / s
        } else {
            0.0
        }
    }
}

impl fmt::Display for SendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.elapsed.as_secs_f64();
        let mbps = if s > 0.0 {
            self.bytes as f64 / s / 1e6
        } else {
            0.0
        };
        write!(
            f,
            "sent {} packets ({} bytes) in {:.3} s: {:.0} packets/s, {:.1} MB/s, {} sendmmsg calls, {} retries",
            self.packets,
            self.bytes,
            s,
            self.pps(),
            mbps,
            self.send_calls,
            self.retries
        )?;
        if self.skipped_frames > 0 {
            write!(f, "; {} frames without UDP skipped", self.skipped_frames)?;
        }
        if let Some(o) = self.truncated_at {
            write!(f, "; capture cut off at offset {o}")?;
        }
        if let Some(p) = self.pacing {
            write!(
                f,
                "; pacing error p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
                p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns
            )?;
        }
        Ok(())
    }
}

/// A multicast UDP socket and the preallocated `sendmmsg` arrays.
#[derive(Debug)]
pub struct Sender {
    sock: Socket,
    batch: usize,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_in>,
    send_calls: u64,
    retries: u64,
}

// SAFETY: the raw pointers inside `hdrs` and `iovs` are rebuilt before every `sendmmsg` call
// from the slices passed to `flush` and are never dereferenced outside it; between calls they
// are dead values, so moving the sender to another thread cannot make them alias anything.
unsafe impl Send for Sender {}

impl Sender {
    /// Opens the sending socket: TTL, loop and interface from `cfg`, blocking.
    pub fn new(cfg: &WireConfig) -> Result<Self, WireError> {
        cfg.validate()?;
        let err = |what: &str, e: std::io::Error| WireError(format!("wire sender: {what}: {e}"));
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| err("socket", e))?;
        sock.set_multicast_ttl_v4(cfg.ttl)
            .map_err(|e| err(&format!("IP_MULTICAST_TTL {}", cfg.ttl), e))?;
        sock.set_multicast_loop_v4(cfg.multicast_loop)
            .map_err(|e| err("IP_MULTICAST_LOOP", e))?;
        if let Some(ifa) = cfg.iface {
            sock.set_multicast_if_v4(&ifa)
                .map_err(|e| err(&format!("IP_MULTICAST_IF {ifa}"), e))?;
            let local = SockAddr::from(SocketAddrV4::new(ifa, 0));
            sock.bind(&local)
                .map_err(|e| err(&format!("bind {ifa}"), e))?;
        }
        // Large bursts at top speed: a big send buffer keeps the socket from blocking per packet.
        let _ = sock.set_send_buffer_size(8 << 20);
        let b = cfg.batch;
        // SAFETY: `mmsghdr`, `iovec` and `sockaddr_in` are plain C structs of integers and raw
        // pointers, for which all-zero bytes are a valid value (null pointers, zero lengths).
        let (hdr0, iov0, name0) = unsafe {
            (
                std::mem::zeroed::<libc::mmsghdr>(),
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed::<libc::sockaddr_in>(),
            )
        };
        Ok(Sender {
            sock,
            batch: b,
            hdrs: vec![hdr0; b],
            iovs: vec![iov0; b],
            names: vec![name0; b],
            send_calls: 0,
            retries: 0,
        })
    }

    /// Sends `batch` (at most [`WireConfig::batch`] datagrams, destinations already final) with
    /// as few `sendmmsg` calls as the kernel allows. Blocks until every datagram is sent.
    pub fn flush(&mut self, batch: &[(SocketAddrV4, &[u8])]) -> Result<(), WireError> {
        let n = batch.len().min(self.batch);
        for (i, (dst, payload)) in batch[..n].iter().enumerate() {
            self.names[i] = sockaddr_in(*dst);
            self.iovs[i] = libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            };
            let name: *mut libc::sockaddr_in = &mut self.names[i];
            let iov: *mut libc::iovec = &mut self.iovs[i];
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = name.cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.sock);
        let mut off = 0usize;
        let mut pushbacks = 0u32;
        while off < n {
            // SAFETY: `hdrs[off..n]` are initialised above; each points to its own
            // `sockaddr_in` in `names` and its own `iovec` in `iovs`, whose base points to a
            // payload slice borrowed for the duration of this call (`batch`); the kernel only
            // reads them and writes `msg_len`. `n - off <= hdrs.len()`.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs.as_mut_ptr().add(off),
                    (n - off) as libc::c_uint,
                    0,
                )
            };
            self.send_calls += 1;
            if r < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) | Some(libc::EAGAIN) if pushbacks < 100_000 => {
                        pushbacks += 1;
                        self.retries += 1;
                        std::thread::yield_now();
                        continue;
                    }
                    _ => {
                        let (dst, _) = batch[off];
                        return Err(WireError(format!("wire sender: sendmmsg to {dst}: {e}")));
                    }
                }
            }
            off += r as usize;
        }
        Ok(())
    }

    /// The multicast TTL and loop flag of the socket, read back from the kernel.
    pub fn multicast_ttl_loop(&self) -> std::io::Result<(u32, bool)> {
        Ok((
            self.sock.multicast_ttl_v4()?,
            self.sock.multicast_loop_v4()?,
        ))
    }

    /// `sendmmsg` calls so far.
    pub fn send_calls(&self) -> u64 {
        self.send_calls
    }
}

fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Monotonic nanoseconds since `origin`.
fn ns_since(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// Sends the datagrams of `source` (called once per loop) as `cfg` says.
///
/// `source` yields the same datagrams on every call (typically a fresh pass over a capture).
pub fn send_datagrams<'a, F, I>(cfg: &WireConfig, mut source: F) -> Result<SendReport, WireError>
where
    F: FnMut() -> Result<I, WireError>,
    I: Iterator<Item = WireDatagram<'a>>,
{
    let mut sender = Sender::new(cfg)?;
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| WireError(format!("wire sender: histogram: {e}")))?;
    let mut pending: Vec<(SocketAddrV4, &'a [u8])> = Vec::with_capacity(cfg.batch);
    let mut deadlines: Vec<u64> = Vec::with_capacity(cfg.batch);
    let mut rep = SendReport::default();
    let origin = Instant::now();
    let mut first_deadline: Option<u64> = None;

    let mut flush = |sender: &mut Sender,
                     pending: &mut Vec<(SocketAddrV4, &'a [u8])>,
                     deadlines: &mut Vec<u64>,
                     rep: &mut SendReport|
     -> Result<(), WireError> {
        if pending.is_empty() {
            return Ok(());
        }
        let t = ns_since(origin);
        sender.flush(pending)?;
        for &d in deadlines.iter() {
            hist.saturating_record(t.saturating_sub(d).max(1));
        }
        rep.packets += pending.len() as u64;
        rep.bytes += pending.iter().map(|(_, p)| p.len() as u64).sum::<u64>();
        pending.clear();
        deadlines.clear();
        Ok(())
    };

    for _ in 0..cfg.loops.max(1) {
        let loop_start = ns_since(origin);
        first_deadline.get_or_insert(loop_start);
        // Timestamps that go backwards never move a deadline back (see `pace`).
        let mut schedule = match cfg.pacing {
            Pacing::Speed(x) => Some(pace::Schedule::new(x, loop_start)),
            _ => None,
        };
        for (i, d) in (source()?).enumerate() {
            let deadline = match cfg.pacing {
                Pacing::TopSpeed => None,
                Pacing::Pps(n) => Some(loop_start + (i as u128 * 1_000_000_000 / n as u128) as u64),
                Pacing::Speed(_) => schedule.as_mut().map(|s| s.deadline(d.ts_ns)),
            };
            if let Some(dl) = deadline {
                if !pending.is_empty() && dl > ns_since(origin) {
                    flush(&mut sender, &mut pending, &mut deadlines, &mut rep)?;
                }
                if pending.is_empty() {
                    pace::wait_until(dl, cfg.spin, || ns_since(origin));
                }
                deadlines.push(dl);
            }
            pending.push((cfg.destination(d.dst), d.payload));
            if pending.len() == cfg.batch {
                flush(&mut sender, &mut pending, &mut deadlines, &mut rep)?;
            }
        }
        flush(&mut sender, &mut pending, &mut deadlines, &mut rep)?;
    }
    rep.elapsed = Duration::from_nanos(ns_since(origin) - first_deadline.unwrap_or(0));
    rep.send_calls = sender.send_calls;
    rep.retries = sender.retries;
    if cfg.pacing != Pacing::TopSpeed && !hist.is_empty() {
        rep.pacing = Some(PacingErrors {
            p50_ns: hist.value_at_quantile(0.5),
            p99_ns: hist.value_at_quantile(0.99),
            p999_ns: hist.value_at_quantile(0.999),
            max_ns: hist.max(),
        });
    }
    Ok(rep)
}

/// Sends the UDP payloads of a pcap or pcapng capture as `cfg` says (`fh replay FILE --to …`).
///
/// The file is checked in a first pass (a broken record is an error naming the offset, before
/// anything is sent; a capture cut off at its end is sent up to the cut and reported in
/// [`SendReport::truncated_at`]); frames without a UDP datagram are skipped and counted.
pub fn send_capture(path: &Path, cfg: &WireConfig) -> Result<SendReport, WireError> {
    let cap = Capture::open(path).map_err(|e| WireError(e.to_string()))?;
    let mut skipped = 0u64;
    let mut truncated_at = None;
    let mut datagrams = 0u64;
    for r in cap.records().map_err(|e| WireError(e.to_string()))? {
        match r {
            Ok(r) => match frame::udp_payload(r.link, r.data) {
                Ok(_) => datagrams += 1,
                Err(_) => skipped += 1,
            },
            Err(e) if e.is_truncation() => truncated_at = Some(e.offset),
            Err(e) => return Err(WireError(e.to_string())),
        }
    }
    if datagrams == 0 {
        return Err(WireError(format!(
            "{}: no UDP datagram to send",
            path.display()
        )));
    }
    let mut rep = send_datagrams(cfg, || {
        let recs = cap.records().map_err(|e| WireError(e.to_string()))?;
        Ok(recs.map_while(Result::ok).filter_map(|r| {
            frame::udp_payload(r.link, r.data)
                .ok()
                .map(|d| WireDatagram {
                    ts_ns: r.ts_ns,
                    dst: d.dst,
                    payload: d.payload,
                })
        }))
    })?;
    rep.skipped_frames = skipped;
    rep.truncated_at = truncated_at;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn map_parses_and_rewrites_destinations() {
        let m: GroupMap = "233.1.2.3:1000=239.0.0.1:2000".parse().unwrap();
        assert_eq!(m.from, g("233.1.2.3:1000"));
        assert_eq!(m.to, g("239.0.0.1:2000"));
        assert!("233.1.2.3:1000".parse::<GroupMap>().is_err());
        assert!("x=239.0.0.1:2000".parse::<GroupMap>().is_err());
        let mut cfg = WireConfig::new(g("239.9.9.9:9"));
        cfg.maps.push(m);
        assert_eq!(cfg.destination(g("233.1.2.3:1000")), g("239.0.0.1:2000"));
        assert_eq!(cfg.destination(g("233.1.2.3:1001")), g("239.9.9.9:9"));
    }

    #[test]
    fn only_multicast_destinations_and_sane_pacing_are_accepted() {
        assert!(WireConfig::new(g("127.0.0.1:5000")).validate().is_err());
        let mut cfg = WireConfig::new(g("239.1.1.1:5000"));
        assert!(cfg.validate().is_ok());
        cfg.maps.push("1.2.3.4:5=10.0.0.1:6".parse().unwrap());
        assert!(cfg.validate().is_err());
        let mut cfg = WireConfig::new(g("239.1.1.1:5000"));
        cfg.pacing = Pacing::Speed(0.0);
        assert!(cfg.validate().is_err());
        cfg.pacing = Pacing::Pps(0);
        assert!(cfg.validate().is_err());
        cfg.pacing = Pacing::TopSpeed;
        cfg.ttl = 256;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn the_socket_keeps_traffic_on_the_host_by_default() {
        // Opening a socket sends nothing.
        let s = Sender::new(&WireConfig::new(g("239.1.1.1:5000"))).unwrap();
        assert_eq!(s.multicast_ttl_loop().unwrap(), (0, true));
        let mut cfg = WireConfig::new(g("239.1.1.1:5000"));
        cfg.ttl = 3;
        cfg.multicast_loop = false;
        let s = Sender::new(&cfg).unwrap();
        assert_eq!(s.multicast_ttl_loop().unwrap(), (3, false));
    }

    #[test]
    fn deadline_waits_are_never_early() {
        let origin = Instant::now();
        for k in 1..20u64 {
            let dl = ns_since(origin) + k * 50_000;
            pace::wait_until(dl, Duration::from_micros(20), || ns_since(origin));
            assert!(ns_since(origin) >= dl);
        }
    }
}
