//! The capture timestamp: the precise wall clock.
//!
//! Not the kernel's coarse clock (`CLOCK_REALTIME_COARSE`), though it costs a quarter as
//! much: it moves once a scheduler tick (1 to 4 ms), and the queue merges its shards by
//! time. Events of two threads within one tick would tie, and sequence numbers order one
//! thread's events only, so an event that followed another thread's (a task resumed on
//! another worker thread, the handler of a request another thread logged) could be posted
//! before it.

use std::time::SystemTime;

/// The wall clock now.
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}
