//! Durations and sizes as people read them, for messages at every layer.

use std::time::Duration;

/// A duration as people read it: `850 ms`, `3.2 s`.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A byte count as people read it: `512 bytes`, `4.0 MiB`, `1.0 TiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} byte{}", if n == 1 { "" } else { "s" });
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_plainly() {
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(1000), "1000 bytes");
        assert_eq!(bytes(1 << 40), "1.0 TiB");
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(3200)), "3.2 s");
        assert_eq!(human(Duration::from_secs(10)), "10 s");
    }
}
