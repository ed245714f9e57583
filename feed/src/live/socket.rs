//! Multicast receive sockets: one socket2 UDP socket per joined group.
//!
//! Each socket is bound to its group's address and port (so it sees only that group's
//! datagrams, with `IP_MULTICAST_ALL` off as well), `SO_REUSEADDR`, joined any-source or
//! source-specific on the given interface, non-blocking, with kernel receive timestamps
//! (`SO_TIMESTAMPNS`) and the kernel's drop counter (`SO_RXQ_OVFL`) delivered with every
//! datagram. `SO_RCVBUF` is raised with `SO_RCVBUFFORCE` when the process may (root or
//! `CAP_NET_ADMIN` in the namespace's user namespace), else with `SO_RCVBUF` up to the
//! `rmem_max` limit; the size the kernel granted is read back and reported.
//!
//! Invariant: all of this happens at start-up; the receive path only calls `recvmmsg`
//! (see `rx`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::LiveError;

/// A group to join: `--group G:PORT`, optionally source-specific (`--source ADDR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    /// Multicast group and UDP port.
    pub group: SocketAddrV4,
    /// Source address for a source-specific join; any source when `None`.
    pub source: Option<Ipv4Addr>,
}

impl fmt::Display for GroupSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Some(s) => write!(f, "{}@{}", self.group, s),
            None => write!(f, "{}", self.group),
        }
    }
}

/// A joined, configured, non-blocking receive socket.
#[derive(Debug)]
pub struct GroupSocket {
    sock: Socket,
    /// What was joined.
    pub spec: GroupSpec,
    /// Receive buffer size the kernel granted, bytes (as `getsockopt(SO_RCVBUF)` reports it:
    /// Linux doubles the request to account for its bookkeeping).
    pub rcvbuf_granted: usize,
    /// True when `SO_RCVBUFFORCE` was allowed (the `rmem_max` limit did not apply).
    pub rcvbuf_forced: bool,
}

impl GroupSocket {
    /// Opens, binds and joins `spec` on the interface `iface` (`0.0.0.0`: the route decides),
    /// asking for `rcvbuf` bytes of receive buffer.
    pub fn open(spec: GroupSpec, iface: Ipv4Addr, rcvbuf: usize) -> Result<Self, LiveError> {
        let err = |what: &str, e: std::io::Error| LiveError(format!("group {spec}: {what}: {e}"));
        if !spec.group.ip().is_multicast() {
            return Err(LiveError(format!(
                "--group {}: not a multicast group (224.0.0.0/4)",
                spec.group
            )));
        }
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| err("socket", e))?;
        sock.set_reuse_address(true)
            .map_err(|e| err("SO_REUSEADDR", e))?;
        let fd = sock.as_raw_fd();
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, 0)
            .map_err(|e| err("IP_MULTICAST_ALL", e))?;
        sock.bind(&SockAddr::from(spec.group))
            .map_err(|e| err("bind", e))?;
        match spec.source {
            Some(src) => sock
                .join_ssm_v4(&src, spec.group.ip(), &iface)
                .map_err(|e| err(&format!("IP_ADD_SOURCE_MEMBERSHIP on {iface}"), e))?,
            None => sock
                .join_multicast_v4(spec.group.ip(), &iface)
                .map_err(|e| err(&format!("IP_ADD_MEMBERSHIP on {iface}"), e))?,
        }
        let req = rcvbuf.min(i32::MAX as usize / 2) as i32;
        let rcvbuf_forced = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, req).is_ok();
        if !rcvbuf_forced {
            sock.set_recv_buffer_size(req as usize)
                .map_err(|e| err("SO_RCVBUF", e))?;
        }
        let rcvbuf_granted = sock
            .recv_buffer_size()
            .map_err(|e| err("getsockopt SO_RCVBUF", e))?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(|e| err("SO_TIMESTAMPNS", e))?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
            .map_err(|e| err("SO_RXQ_OVFL", e))?;
        sock.set_nonblocking(true)
            .map_err(|e| err("O_NONBLOCK", e))?;
        Ok(GroupSocket {
            sock,
            spec,
            rcvbuf_granted,
            rcvbuf_forced,
        })
    }

    /// A unicast UDP socket bound to `bind` (port 0: the kernel picks one), non-blocking, with
    /// the same timestamps and drop counter as a group's: where re-request responses arrive.
    /// Its `spec.group` is the address it is bound to.
    pub fn unicast(bind: SocketAddrV4, rcvbuf: usize) -> Result<Self, LiveError> {
        let err = |what: &str, e: std::io::Error| {
            LiveError(format!("response socket {bind}: {what}: {e}"))
        };
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| err("socket", e))?;
        sock.bind(&SockAddr::from(bind))
            .map_err(|e| err("bind", e))?;
        let local = sock
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket_ipv4())
            .unwrap_or(bind);
        let fd = sock.as_raw_fd();
        let req = rcvbuf.min(i32::MAX as usize / 2) as i32;
        let rcvbuf_forced = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, req).is_ok();
        if !rcvbuf_forced {
            let _ = sock.set_recv_buffer_size(req as usize);
        }
        let rcvbuf_granted = sock.recv_buffer_size().unwrap_or(0);
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(|e| err("SO_TIMESTAMPNS", e))?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
            .map_err(|e| err("SO_RXQ_OVFL", e))?;
        sock.set_nonblocking(true)
            .map_err(|e| err("O_NONBLOCK", e))?;
        Ok(GroupSocket {
            sock,
            spec: GroupSpec {
                group: local,
                source: None,
            },
            rcvbuf_granted,
            rcvbuf_forced,
        })
    }

    /// Another handle on the same socket (non-blocking, like the receive side), to send from.
    pub fn try_clone_udp(&self) -> std::io::Result<std::net::UdpSocket> {
        let s = self.sock.try_clone()?;
        Ok(s.into())
    }

    /// The file descriptor, for `recvmmsg`.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// `setsockopt(fd, level, name, &val, sizeof(int))`.
fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> std::io::Result<()> {
    // SAFETY: `val` is a live `c_int` on the stack and the length passed is its size; the
    // kernel only reads it. `fd` is an open socket owned by the caller.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
