//! The capture timestamp: the wall clock, read as cheaply as the platform allows.
//!
//! Reading the precise wall clock costs about 16 ns on Linux (through the vDSO), a tenth of
//! what capturing an event costs. The kernel's coarse clock costs about 3 ns and is as
//! precise as the scheduler tick (1 to 4 ms): finer than a Discord reader can tell apart,
//! and one thread's events keep their order through their sequence numbers anyway.
//! Elsewhere the precise clock is read.

use std::time::SystemTime;

/// The wall clock now, to the kernel's tick on Linux.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn now() -> SystemTime {
    use rustix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::RealtimeCoarse);
    match (u64::try_from(t.tv_sec), u32::try_from(t.tv_nsec)) {
        (Ok(secs), Ok(nanos)) if nanos < 1_000_000_000 => {
            SystemTime::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
        }
        // Before 1970 or out of range: the precise clock handles it.
        _ => SystemTime::now(),
    }
}

/// The wall clock now.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_cheap_clock_reads_the_wall_clock_to_within_a_tick() {
        let before = SystemTime::now();
        let cheap = now();
        let after = SystemTime::now();
        // The coarse clock lags by at most a tick (4 ms at 250 Hz; 10 ms at 100 Hz).
        assert!(cheap <= after, "{cheap:?} after {after:?}");
        let lag = before.duration_since(cheap).unwrap_or(Duration::ZERO);
        assert!(lag <= Duration::from_millis(20), "lags by {lag:?}");
    }
}
