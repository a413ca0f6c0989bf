//! The relay's wall clock, for what is stored or sent with a time: message
//! timestamps and when a resume identity was last seen. (Timeouts and
//! expiry use tokio's monotonic clock instead, which tests can pause.)

/// Unix milliseconds now; 0 on a clock set before 1970.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
