//! Sizes for people: GNU's `-h` (`du`, `df`, `ls -lh`, `quota`).

/// `1023`, `4.0K`, `15M`: GNU's `-h`, powers of 1024 rounded up, one
/// decimal below 10.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 8] = ["K", "M", "G", "T", "P", "E", "Z", "Y"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let bytes = u128::from(bytes);
    let mut scale: u128 = 1024;
    for unit in UNITS {
        let tenths = (bytes * 10).div_ceil(scale);
        if tenths < 100 {
            return format!("{}.{}{unit}", tenths / 10, tenths % 10);
        }
        let whole = bytes.div_ceil(scale);
        if whole < 1024 {
            return format!("{whole}{unit}");
        }
        scale *= 1024;
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_like_gnu_dash_h() {
        assert_eq!(human(0), "0");
        assert_eq!(human(1023), "1023");
        assert_eq!(human(1024), "1.0K");
        assert_eq!(human(1025), "1.1K");
        assert_eq!(human(10 * 1024), "10K");
        assert_eq!(human(15 * 1024 * 1024 - 1), "15M");
        assert_eq!(human(u64::MAX), "16E");
    }
}
