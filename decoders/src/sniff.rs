//! Telling the transports apart from the bytes alone (for `--protocol auto`).
//!
//! IEX-TP is recognised by its header: version 1, a known Message Protocol ID and a Payload
//! Length equal to the bytes after the 40-byte header. Anything else at least 20 bytes long is
//! taken as MoldUDP64, whose own parse then checks the framing (and counts what fails).

use crate::iextp::{self, Header as IexHeader};
use zerocopy::FromBytes;

/// A transport framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Nasdaq MoldUDP64 (carrying ITCH 5.0).
    MoldUdp64,
    /// IEX-TP v1 (carrying DEEP or TOPS).
    IexTp,
}

/// Which transport `payload` looks like, or `None` when it is too short for either.
#[inline]
pub fn sniff(payload: &[u8]) -> Option<Transport> {
    if let Ok((h, rest)) = IexHeader::ref_from_prefix(payload) {
        let known = matches!(
            h.message_protocol_id.get(),
            iextp::PROTOCOL_DEEP_1_0 | iextp::PROTOCOL_TOPS_1_6 | iextp::PROTOCOL_TOPS_1_5
        );
        if h.version == iextp::VERSION && known && usize::from(h.payload_length.get()) == rest.len()
        {
            return Some(Transport::IexTp);
        }
    }
    (payload.len() >= crate::moldudp64::HEADER_LEN).then_some(Transport::MoldUdp64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_iex_from_mold() {
        let mut iex = [0u8; 40];
        iex[0] = 1;
        iex[2..4].copy_from_slice(&0x8004u16.to_le_bytes());
        assert_eq!(sniff(&iex), Some(Transport::IexTp));
        iex[12] = 1; // payload length 1 but no payload: not IEX-TP
        assert_eq!(sniff(&iex), Some(Transport::MoldUdp64));
        assert_eq!(sniff(b"0000100599"), None);
        assert_eq!(sniff(&[b' '; 20]), Some(Transport::MoldUdp64));
    }
}
