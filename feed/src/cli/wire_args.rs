//! `fh replay --to …`: the wire sender's options ([`WireArgs`]), turned into the library's plain
//! [`WireConfig`] (`fh_replay::wire`, which knows nothing of clap).

use std::net::{Ipv4Addr, SocketAddrV4};

use fh_replay::wire::{GroupMap, Pacing, WireConfig};

/// `fh replay --to …`: the wire-sending options, to be `#[command(flatten)]`ed.
#[derive(Debug, Clone, clap::Args)]
pub struct WireArgs {
    /// Send each captured UDP payload to this multicast GROUP:PORT instead of replaying in-process.
    #[arg(long, value_name = "GROUP:PORT")]
    pub to: Option<SocketAddrV4>,
    /// Send datagrams captured to CAPTURED_G:P to G:P instead (repeatable).
    #[arg(long = "map", value_name = "CAPTURED_G:P=G:P", requires = "to")]
    pub maps: Vec<GroupMap>,
    /// Local interface address to send multicast from.
    #[arg(long, value_name = "ADDR", requires = "to")]
    pub iface: Option<Ipv4Addr>,
    /// Follow the capture's timestamps X times faster (1: as captured). With --to: the
    /// sender's pacing (default 1). Without --to: paces the in-process replay too (default:
    /// as fast as possible), and the latency report adds `behind_schedule`.
    #[arg(long, value_name = "X", conflicts_with_all = ["pps", "topspeed"])]
    pub speed: Option<f64>,
    /// Send N datagrams per second, ignoring the capture's timestamps.
    #[arg(long, value_name = "N", conflicts_with = "topspeed", requires = "to")]
    pub pps: Option<u64>,
    /// Send as fast as possible (sendmmsg batches).
    #[arg(long, requires = "to")]
    pub topspeed: bool,
    /// Send the whole capture N times.
    #[arg(long = "loop", value_name = "N", default_value_t = 1, requires = "to")]
    pub loops: u32,
    /// Multicast TTL (0: nothing leaves this host).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "to")]
    pub ttl: u32,
}

impl Default for WireArgs {
    fn default() -> Self {
        WireArgs {
            to: None,
            maps: Vec::new(),
            iface: None,
            speed: None,
            pps: None,
            topspeed: false,
            loops: 1,
            ttl: 0,
        }
    }
}

impl WireArgs {
    /// The sender configuration, or `None` when `--to` was not given (replay in-process).
    pub fn config(&self) -> Option<WireConfig> {
        let to = self.to?;
        let pacing = if self.topspeed {
            Pacing::TopSpeed
        } else if let Some(n) = self.pps {
            Pacing::Pps(n)
        } else {
            Pacing::Speed(self.speed.unwrap_or(1.0))
        };
        Some(WireConfig {
            maps: self.maps.clone(),
            iface: self.iface,
            pacing,
            loops: self.loops,
            ttl: self.ttl,
            ..WireConfig::new(to)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        wire: WireArgs,
    }

    fn g(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn args_build_the_config() {
        let c = Cli::parse_from(["x"]);
        assert!(c.wire.config().is_none());
        let c = Cli::parse_from(["x", "--to", "239.1.1.1:5000"]);
        let cfg = c.wire.config().unwrap();
        assert_eq!(cfg.pacing, Pacing::Speed(1.0));
        assert_eq!((cfg.ttl, cfg.loops, cfg.multicast_loop), (0, 1, true));
        let c = Cli::parse_from([
            "x",
            "--to",
            "239.1.1.1:5000",
            "--pps",
            "1000",
            "--loop",
            "3",
            "--map",
            "1.2.3.4:5=239.2.2.2:6",
            "--iface",
            "127.0.0.1",
        ]);
        let cfg = c.wire.config().unwrap();
        assert_eq!(cfg.pacing, Pacing::Pps(1000));
        assert_eq!(cfg.loops, 3);
        assert_eq!(cfg.iface, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(cfg.destination(g("1.2.3.4:5")), g("239.2.2.2:6"));
        let c = Cli::parse_from(["x", "--to", "239.1.1.1:5000", "--topspeed"]);
        assert_eq!(c.wire.config().unwrap().pacing, Pacing::TopSpeed);
        assert!(
            Cli::try_parse_from(["x", "--to", "239.1.1.1:1", "--pps", "5", "--topspeed"]).is_err()
        );
        assert!(Cli::try_parse_from(["x", "--pps", "5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--loop", "2"]).is_err());
        // One --speed for both: without --to it paces the in-process replay.
        let c = Cli::parse_from(["x", "--speed", "2"]);
        assert_eq!((c.wire.speed, c.wire.config().is_none()), (Some(2.0), true));
    }
}
