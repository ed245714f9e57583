//! Ctrl-C and SIGTERM as a flag: the handler only stores to a static atomic, which the
//! command's main loop polls, so every agent is stopped and joined in order (clean shutdown).

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Async-signal-safe: a single atomic store.
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT and SIGTERM handlers (idempotent) and clears the flag.
pub fn install() {
    STOP.store(false, Ordering::SeqCst);
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: `on_signal` is an `extern "C"` function that only performs an atomic store,
    // which is async-signal-safe; `signal` has no other preconditions.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// The flag the handlers set (for loops that poll one `AtomicBool`).
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// True once SIGINT or SIGTERM arrived since [`install`].
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}
