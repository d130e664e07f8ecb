//! Durations as swanctl.conf writes them: integer seconds (`30`) or a number with a
//! unit suffix `s`, `m`, `h`, `d` (`30s`, `10m`, `1h`, `1.5h`).

use std::time::Duration;

/// Parse `text`; the error is a sentence for the operator.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86400.0),
        _ => (t, 1.0),
    };
    let bad = || {
        format!(
            "invalid duration {text:?}: use integer seconds or a number with a unit, \
             e.g. 30s, 10m, 1h, 1d"
        )
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let secs = v * mult;
    if !secs.is_finite() || !(0.0..=1e10).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Format like the input syntax, for messages and docs (`90s`, `10m`, `4h`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if u128::from(s) * 1000 != d.as_millis() {
        return format!("{}s", d.as_secs_f64());
    }
    if s != 0 && s % 86400 == 0 {
        format!("{}d", s / 86400)
    } else if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(format_duration(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
