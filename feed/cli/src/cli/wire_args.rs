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
    #[arg(long = "map", value_name = "CAPTURED_G:P=G:P")]
    pub maps: Vec<GroupMap>,
    /// Local interface address to send multicast from.
    #[arg(long, value_name = "ADDR")]
    pub iface: Option<Ipv4Addr>,
    /// Follow the capture's timestamps X times faster (1: as captured; 0.001 to 1000000). With --to: the
    /// sender's pacing (default 1). Without --to: paces the in-process replay too (default:
    /// as fast as possible), and the latency report adds `behind_schedule`.
    #[arg(long, value_name = "X", conflicts_with_all = ["pps", "topspeed"])]
    pub speed: Option<f64>,
    /// Send N datagrams per second, ignoring the capture's timestamps (1 to 100000000).
    #[arg(long, value_name = "N", conflicts_with = "topspeed")]
    pub pps: Option<u64>,
    /// Send as fast as possible (sendmmsg batches).
    #[arg(long)]
    pub topspeed: bool,
    /// Send the whole capture N times (1 to 1000000).
    #[arg(long = "loop", value_name = "N", default_value_t = 1)]
    pub loops: u32,
    /// Multicast TTL (0: nothing leaves this host; at most 255).
    #[arg(long, value_name = "N", default_value_t = 0)]
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

/// Slowest `--speed`.
pub const MIN_SPEED: f64 = 0.001;
/// Fastest `--speed`.
pub const MAX_SPEED: f64 = 1_000_000.0;

impl WireArgs {
    /// Flags of the wire sender (what `fh replay --to` takes besides FILE).
    #[rustfmt::skip]
    pub const FLAGS: &'static [&'static str] = &[
        "--to", "--map", "--iface", "--speed", "--pps", "--topspeed", "--loop", "--ttl",
    ];

    /// Checks the ranges: `--speed` [`MIN_SPEED`] to [`MAX_SPEED`], `--pps` 1 to 10^8, `--loop`
    /// 1 to 10^6, `--ttl` 0 to 255.
    pub fn check(&self) -> Result<(), super::CliError> {
        if let Some(x) = self.speed {
            super::in_range("--speed", x, MIN_SPEED, MAX_SPEED)?;
        }
        if let Some(n) = self.pps {
            super::in_range("--pps", n, 1, 100_000_000)?;
        }
        super::in_range("--loop", self.loops, 1, 1_000_000)?;
        super::in_range("--ttl", self.ttl, 0, 255)?;
        Ok(())
    }

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
        // Without --to these are refused by `fh replay`'s mode check, and ranges by `check`.
        let c = Cli::parse_from(["x", "--to", "239.1.1.1:1", "--loop", "0"]);
        assert!(c
            .wire
            .check()
            .unwrap_err()
            .0
            .starts_with("--loop 0: must be from 1"));
        let c = Cli::parse_from(["x", "--speed", "1e-9"]);
        assert!(c.wire.check().is_err());
        // One --speed for both: without --to it paces the in-process replay.
        let c = Cli::parse_from(["x", "--speed", "2"]);
        assert_eq!((c.wire.speed, c.wire.config().is_none()), (Some(2.0), true));
    }
}
