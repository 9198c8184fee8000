//! Wall-clock time as the store keeps it: milliseconds since the Unix epoch, UTC.

/// Now, in milliseconds since the Unix epoch (UTC). A clock outside `i64` (year 292 million)
/// reads as `i64::MAX`, so a timestamp taken now is never earlier than one stored before.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2024_and_moves_forward() {
        let a = super::now_ms();
        assert!(a > 1_704_067_200_000, "{a}");
        assert!(super::now_ms() >= a);
    }
}
