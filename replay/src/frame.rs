//! Link, IPv4 and UDP headers: from a captured frame to the UDP datagram inside it.
//!
//! [`udp_payload`] walks one captured packet (the bytes of a capture record) down to its UDP
//! payload, which stays a slice of the input: nothing is copied.
//!
//! ```text
//!  Ethernet ─┬─ 802.1Q / 802.1ad / 0x9100 tags (any number) ─┐
//!  SLL (113) ─┤                                               ├─► IPv4 ─► UDP ─► payload
//!  SLL2 (276) ┤                                               │
//!  Null (0) ──┘          raw IP (101, 12, 14) / IPv4 (228) ───┘
//! ```
//!
//! ## Invariants
//! - **Never panics, never allocates.** Every header is a `zerocopy` view checked against the
//!   bytes before use; a frame that cannot be walked is a [`FrameError`] (a small `Copy` enum)
//!   that the caller counts in [`FrameStats`] and drops.
//! - **Lengths on the wire win over lengths of the capture**, but never reach past it: the IP
//!   packet is bounded by its Total Length (cutting Ethernet padding and FCS), the payload by
//!   `min(UDP Length, IP payload) − 8`; a Total Length or UDP Length longer than the captured
//!   bytes is an error ([`FrameError::IpTruncated`], [`FrameError::UdpTruncated`]).
//! - IPv4 options are skipped. Fragments (MF set or offset ≠ 0) are not reassembled: they are
//!   reported as [`FrameError::Fragment`]. IPv6, ARP and other non-IPv4 packets are
//!   [`FrameError::NotIpv4`]; IPv4 packets of another protocol are [`FrameError::NotUdp`].
//! - The IPv4 header checksum and the UDP checksum are not verified (capture files of a NIC with
//!   checksum offload routinely carry wrong ones); [`ipv4_checksum`] is public for writers.

use std::net::{Ipv4Addr, SocketAddrV4};

use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// The link-layer header type of a capture (pcap LinkType / pcapng IDB LinkType).
///
/// Only the types a market-data reader meets are known; a capture of any other type is refused
/// when it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// 0: BSD loopback, a 4-byte address family in the writer's byte order.
    Null,
    /// 1: Ethernet II, possibly VLAN-tagged.
    Ethernet,
    /// 101 (also 12 and 14 in old files): raw IPv4 or IPv6, told apart by the version nibble.
    Raw,
    /// 113: Linux "cooked" header v1 (16 bytes).
    LinuxSll,
    /// 228: raw IPv4 only.
    Ipv4,
    /// 229: raw IPv6 only (never yields UDP here: counted as not IPv4).
    Ipv6,
    /// 276: Linux "cooked" header v2 (20 bytes).
    LinuxSll2,
}

impl LinkType {
    /// The link type for a LINKTYPE number, `None` when it is not one we read.
    pub fn from_code(code: u32) -> Option<LinkType> {
        Some(match code {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            101 | 12 | 14 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }

    /// The LINKTYPE number written to files (raw IP is always written as 101).
    pub fn code(self) -> u16 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
        }
    }
}

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType (TPID) of an 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType (TPID) of an 802.1ad service VLAN tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// Legacy QinQ TPID.
pub const ETHERTYPE_QINQ_LEGACY: u16 = 0x9100;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Ethernet II header (14 bytes).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct EthernetHeader {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: U16,
}

/// The 4 bytes following a VLAN TPID: tag control information and the inner EtherType.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct VlanTag {
    pub tci: U16,
    pub ethertype: U16,
}

/// Linux cooked header v1 (LINKTYPE_LINUX_SLL, 16 bytes).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SllHeader {
    pub packet_type: U16,
    pub arphrd: U16,
    pub addr_len: U16,
    pub addr: [u8; 8],
    pub protocol: U16,
}

/// Linux cooked header v2 (LINKTYPE_LINUX_SLL2, 20 bytes).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Sll2Header {
    pub protocol: U16,
    pub reserved: U16,
    pub if_index: U32,
    pub arphrd: U16,
    pub packet_type: u8,
    pub addr_len: u8,
    pub addr: [u8; 8],
}

/// IPv4 header without options (20 bytes).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Ipv4Header {
    pub version_ihl: u8,
    pub dscp_ecn: u8,
    pub total_len: U16,
    pub ident: U16,
    pub flags_frag: U16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: U16,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

/// UDP header (8 bytes).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct UdpHeader {
    pub src_port: U16,
    pub dst_port: U16,
    pub len: U16,
    pub checksum: U16,
}

const _: () = assert!(size_of::<EthernetHeader>() == 14);
const _: () = assert!(size_of::<VlanTag>() == 4);
const _: () = assert!(size_of::<SllHeader>() == 16);
const _: () = assert!(size_of::<Sll2Header>() == 20);
const _: () = assert!(size_of::<Ipv4Header>() == 20);
const _: () = assert!(size_of::<UdpHeader>() == 8);

/// IPv4 flag "more fragments".
const IP_MF: u16 = 0x2000;
/// IPv4 fragment offset mask (8-byte units).
const IP_OFFMASK: u16 = 0x1FFF;

/// A UDP datagram found in a frame: its addresses and its payload (a slice of the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: &'a [u8],
}

/// Why a frame yielded no UDP datagram. Small and `Copy`: counted, never logged per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// The link-layer header (or a VLAN tag) is cut off.
    LinkTruncated,
    /// The link layer carries something other than IPv4 (IPv6, ARP, 802.3 LLC, …).
    NotIpv4,
    /// Fewer bytes than an IPv4 header, or an IPv4 Total Length past the captured bytes.
    IpTruncated,
    /// The IPv4 header is invalid: version ≠ 4, IHL < 5, or Total Length < IHL × 4.
    IpMalformed,
    /// An IPv4 fragment (MF set or fragment offset ≠ 0): not reassembled.
    Fragment,
    /// An IPv4 packet of another protocol than UDP.
    NotUdp,
    /// Fewer bytes than a UDP header, or a UDP Length past the IPv4 payload.
    UdpTruncated,
    /// UDP Length below 8.
    UdpMalformed,
}

/// Named counters of walked frames, by outcome. Plain integers: one per reader thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Frames that yielded a UDP datagram.
    pub udp: u64,
    pub link_truncated: u64,
    pub not_ipv4: u64,
    pub ip_truncated: u64,
    pub ip_malformed: u64,
    pub fragments: u64,
    pub not_udp: u64,
    pub udp_truncated: u64,
    pub udp_malformed: u64,
}

impl FrameStats {
    /// Counts one outcome of [`udp_payload`] and passes the datagram through.
    #[inline]
    pub fn count<'a>(&mut self, r: Result<Datagram<'a>, FrameError>) -> Option<Datagram<'a>> {
        match r {
            Ok(d) => {
                self.udp += 1;
                Some(d)
            }
            Err(e) => {
                self.record(e);
                None
            }
        }
    }

    /// Bumps the counter of one error kind.
    #[inline]
    pub fn record(&mut self, e: FrameError) {
        let c = match e {
            FrameError::LinkTruncated => &mut self.link_truncated,
            FrameError::NotIpv4 => &mut self.not_ipv4,
            FrameError::IpTruncated => &mut self.ip_truncated,
            FrameError::IpMalformed => &mut self.ip_malformed,
            FrameError::Fragment => &mut self.fragments,
            FrameError::NotUdp => &mut self.not_udp,
            FrameError::UdpTruncated => &mut self.udp_truncated,
            FrameError::UdpMalformed => &mut self.udp_malformed,
        };
        *c += 1;
    }

    /// Adds `o`'s counts to these (the frames of several files).
    pub fn add(&mut self, o: &FrameStats) {
        self.udp += o.udp;
        self.link_truncated += o.link_truncated;
        self.not_ipv4 += o.not_ipv4;
        self.ip_truncated += o.ip_truncated;
        self.ip_malformed += o.ip_malformed;
        self.fragments += o.fragments;
        self.not_udp += o.not_udp;
        self.udp_truncated += o.udp_truncated;
        self.udp_malformed += o.udp_malformed;
    }

    /// Frames that yielded no datagram, whatever the reason.
    pub fn skipped(&self) -> u64 {
        self.link_truncated
            + self.not_ipv4
            + self.ip_truncated
            + self.ip_malformed
            + self.fragments
            + self.not_udp
            + self.udp_truncated
            + self.udp_malformed
    }

    /// Every (name, count) pair, for printing.
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("udp", self.udp),
            ("link_truncated", self.link_truncated),
            ("not_ipv4", self.not_ipv4),
            ("ip_truncated", self.ip_truncated),
            ("ip_malformed", self.ip_malformed),
            ("fragments", self.fragments),
            ("not_udp", self.not_udp),
            ("udp_truncated", self.udp_truncated),
            ("udp_malformed", self.udp_malformed),
        ]
    }
}

/// The UDP datagram inside one captured frame of link type `link`.
///
/// Never panics; see the module docs for what each [`FrameError`] means.
pub fn udp_payload(link: LinkType, data: &[u8]) -> Result<Datagram<'_>, FrameError> {
    let ip = match link {
        LinkType::Ethernet => {
            let (eth, rest) =
                EthernetHeader::ref_from_prefix(data).map_err(|_| FrameError::LinkTruncated)?;
            after_ethertype(eth.ethertype.get(), rest)?
        }
        LinkType::LinuxSll => {
            let (sll, rest) =
                SllHeader::ref_from_prefix(data).map_err(|_| FrameError::LinkTruncated)?;
            after_ethertype(sll.protocol.get(), rest)?
        }
        LinkType::LinuxSll2 => {
            let (sll, rest) =
                Sll2Header::ref_from_prefix(data).map_err(|_| FrameError::LinkTruncated)?;
            after_ethertype(sll.protocol.get(), rest)?
        }
        LinkType::Null => {
            let Some((fam, rest)) = data.split_first_chunk::<4>() else {
                return Err(FrameError::LinkTruncated);
            };
            // AF_INET is 2 on every system; the family is in the writer's byte order.
            if u32::from_le_bytes(*fam) != 2 && u32::from_be_bytes(*fam) != 2 {
                return Err(FrameError::NotIpv4);
            }
            rest
        }
        LinkType::Raw | LinkType::Ipv4 => data,
        LinkType::Ipv6 => return Err(FrameError::NotIpv4),
    };
    ipv4_udp(ip)
}

/// Skips any VLAN tags after an EtherType; returns the IPv4 packet.
#[inline]
fn after_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Result<&[u8], FrameError> {
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_LEGACY
    ) {
        let (tag, r) = VlanTag::ref_from_prefix(rest).map_err(|_| FrameError::LinkTruncated)?;
        ethertype = tag.ethertype.get();
        rest = r;
    }
    if ethertype == ETHERTYPE_IPV4 {
        Ok(rest)
    } else {
        Err(FrameError::NotIpv4)
    }
}

/// Walks an IPv4 packet (which may be followed by padding) down to its UDP payload.
#[inline]
fn ipv4_udp(ip: &[u8]) -> Result<Datagram<'_>, FrameError> {
    if let Some(&b) = ip.first() {
        if b >> 4 != 4 {
            // Raw IP may carry IPv6; anything else is no IPv4 either.
            return Err(if b >> 4 == 6 {
                FrameError::NotIpv4
            } else {
                FrameError::IpMalformed
            });
        }
    }
    let (h, _) = Ipv4Header::ref_from_prefix(ip).map_err(|_| FrameError::IpTruncated)?;
    let ihl = usize::from(h.version_ihl & 0x0F) * 4;
    let total = usize::from(h.total_len.get());
    if ihl < 20 || total < ihl {
        return Err(FrameError::IpMalformed);
    }
    if total > ip.len() {
        return Err(FrameError::IpTruncated);
    }
    let ff = h.flags_frag.get();
    if ff & IP_MF != 0 || ff & IP_OFFMASK != 0 {
        return Err(FrameError::Fragment);
    }
    if h.protocol != IPPROTO_UDP {
        return Err(FrameError::NotUdp);
    }
    let l4 = &ip[ihl..total];
    let (u, _) = UdpHeader::ref_from_prefix(l4).map_err(|_| FrameError::UdpTruncated)?;
    let ulen = usize::from(u.len.get());
    if ulen < 8 {
        return Err(FrameError::UdpMalformed);
    }
    if ulen > l4.len() {
        return Err(FrameError::UdpTruncated);
    }
    Ok(Datagram {
        src: SocketAddrV4::new(Ipv4Addr::from(h.src), u.src_port.get()),
        dst: SocketAddrV4::new(Ipv4Addr::from(h.dst), u.dst_port.get()),
        payload: &l4[8..ulen],
    })
}

/// The Internet checksum (RFC 1071) of an IPv4 header whose checksum field is zero.
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    !fold(sum16(0, header))
}

/// Adds `bytes` as big-endian 16-bit words (odd tail padded with zero) to `acc`.
pub(crate) fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    if let [b] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*b) << 8);
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc
}

/// Folds a 32-bit one's-complement accumulator to 16 bits.
pub(crate) fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::UdpFrame;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    /// An untagged Ethernet/IPv4/UDP frame from the writer, payload "PAYLOAD".
    fn eth() -> Vec<u8> {
        UdpFrame::new(sa("192.168.1.2:1234"), sa("233.1.2.3:5678"))
            .build(b"PAYLOAD")
            .unwrap()
    }

    /// The same frame with `tpids` VLAN tags inserted after the MAC addresses.
    fn tagged(tpids: &[u16]) -> Vec<u8> {
        let f = eth();
        let mut v = f[..12].to_vec();
        for (i, t) in tpids.iter().enumerate() {
            v.extend_from_slice(&t.to_be_bytes());
            v.extend_from_slice(&(100 + i as u16).to_be_bytes());
        }
        v.extend_from_slice(&f[12..]);
        v
    }

    #[test]
    fn ethernet_untagged_and_padded() {
        let mut f = eth();
        let d = udp_payload(LinkType::Ethernet, &f).unwrap();
        assert_eq!(d.payload, b"PAYLOAD");
        assert_eq!(d.src, sa("192.168.1.2:1234"));
        assert_eq!(d.dst, sa("233.1.2.3:5678"));
        // Ethernet padding and an FCS after the IP packet are cut by the Total Length.
        f.extend_from_slice(&[0xAA; 12]);
        assert_eq!(
            udp_payload(LinkType::Ethernet, &f).unwrap().payload,
            b"PAYLOAD"
        );
    }

    #[test]
    fn vlan_and_qinq_tags_are_skipped() {
        for tpids in [
            &[ETHERTYPE_VLAN][..],
            &[ETHERTYPE_QINQ, ETHERTYPE_VLAN],
            &[ETHERTYPE_QINQ_LEGACY, ETHERTYPE_VLAN],
            &[ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETHERTYPE_VLAN],
        ] {
            let f = tagged(tpids);
            assert_eq!(
                udp_payload(LinkType::Ethernet, &f).unwrap().payload,
                b"PAYLOAD",
                "{tpids:x?}"
            );
        }
        // A tag cut off by the end of the frame.
        let f = tagged(&[ETHERTYPE_VLAN]);
        assert_eq!(
            udp_payload(LinkType::Ethernet, &f[..16]),
            Err(FrameError::LinkTruncated)
        );
    }

    #[test]
    fn cooked_raw_and_null_link_types() {
        let ip = &eth()[14..];
        let mut sll = vec![0u8; 16];
        sll[14..16].copy_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(ip);
        assert_eq!(
            udp_payload(LinkType::LinuxSll, &sll).unwrap().payload,
            b"PAYLOAD"
        );
        let mut sll2 = vec![0u8; 20];
        sll2[0..2].copy_from_slice(&[0x08, 0x00]);
        sll2.extend_from_slice(ip);
        assert_eq!(
            udp_payload(LinkType::LinuxSll2, &sll2).unwrap().payload,
            b"PAYLOAD"
        );
        assert_eq!(udp_payload(LinkType::Raw, ip).unwrap().payload, b"PAYLOAD");
        assert_eq!(udp_payload(LinkType::Ipv4, ip).unwrap().payload, b"PAYLOAD");
        for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut n = fam.to_vec();
            n.extend_from_slice(ip);
            assert_eq!(udp_payload(LinkType::Null, &n).unwrap().payload, b"PAYLOAD");
        }
        let mut n = vec![24, 0, 0, 0]; // AF_INET6 on BSD
        n.extend_from_slice(ip);
        assert_eq!(udp_payload(LinkType::Null, &n), Err(FrameError::NotIpv4));
        sll2[0..2].copy_from_slice(&[0x86, 0xDD]);
        assert_eq!(
            udp_payload(LinkType::LinuxSll2, &sll2),
            Err(FrameError::NotIpv4)
        );
        assert_eq!(
            udp_payload(LinkType::LinuxSll, &sll[..15]),
            Err(FrameError::LinkTruncated)
        );
        let mut v6 = ip.to_vec();
        v6[0] = 0x60;
        assert_eq!(udp_payload(LinkType::Raw, &v6), Err(FrameError::NotIpv4));
        assert_eq!(udp_payload(LinkType::Ipv6, ip), Err(FrameError::NotIpv4));
    }

    #[test]
    fn ip_options_are_skipped() {
        let f = eth();
        let mut v = f[..34].to_vec();
        v[14] = 0x46; // IHL 6
        let tl = u16::from_be_bytes([v[16], v[17]]) + 4;
        v[16..18].copy_from_slice(&tl.to_be_bytes());
        v.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        v.extend_from_slice(&f[34..]);
        assert_eq!(
            udp_payload(LinkType::Ethernet, &v).unwrap().payload,
            b"PAYLOAD"
        );
    }

    #[test]
    fn every_error_kind_is_counted() {
        let good = eth();
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            v
        };
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (good[..10].to_vec(), FrameError::LinkTruncated),
            (with(12, 0x86), FrameError::NotIpv4), // 0x8600: not IPv4
            (good[..30].to_vec(), FrameError::IpTruncated),
            (good[..good.len() - 1].to_vec(), FrameError::IpTruncated),
            (with(14, 0x55), FrameError::IpMalformed), // version 5
            (with(14, 0x44), FrameError::IpMalformed), // IHL 4
            (with(20, 0x20), FrameError::Fragment),    // MF
            (with(21, 0x01), FrameError::Fragment),    // offset 8
            (with(23, 6), FrameError::NotUdp),         // TCP
            (with(39, 200), FrameError::UdpTruncated), // UDP length past IP
            (with(39, 7), FrameError::UdpMalformed),   // UDP length < 8
        ];
        let mut st = FrameStats::default();
        for (f, want) in &cases {
            assert_eq!(udp_payload(LinkType::Ethernet, f), Err(*want), "{want:?}");
            assert!(st.count(udp_payload(LinkType::Ethernet, f)).is_none());
        }
        assert!(st.count(udp_payload(LinkType::Ethernet, &good)).is_some());
        let want = FrameStats {
            udp: 1,
            link_truncated: 1,
            not_ipv4: 1,
            ip_truncated: 2,
            ip_malformed: 2,
            fragments: 2,
            not_udp: 1,
            udp_truncated: 1,
            udp_malformed: 1,
        };
        assert_eq!(st, want);
        assert_eq!(st.skipped(), cases.len() as u64);
        assert_eq!(st.named().iter().map(|(_, n)| n).sum::<u64>(), 12);
    }

    #[test]
    fn ip_header_cut_to_20_bytes_but_ihl_larger() {
        // Total length 20 with IHL 6 is malformed; with UDP missing it is truncated.
        let f = eth();
        let mut v = f[..34].to_vec();
        v[17] = 20;
        assert_eq!(
            udp_payload(LinkType::Ethernet, &v),
            Err(FrameError::UdpTruncated)
        );
        v[14] = 0x46;
        assert_eq!(
            udp_payload(LinkType::Ethernet, &v),
            Err(FrameError::IpMalformed)
        );
    }

    #[test]
    fn link_type_codes_round_trip() {
        for c in [0, 1, 101, 113, 228, 229, 276] {
            assert_eq!(u32::from(LinkType::from_code(c).unwrap().code()), c);
        }
        assert_eq!(LinkType::from_code(12), Some(LinkType::Raw));
        assert_eq!(LinkType::from_code(14), Some(LinkType::Raw));
        assert_eq!(LinkType::from_code(105), None);
    }
}
