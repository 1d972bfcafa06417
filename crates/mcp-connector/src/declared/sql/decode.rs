//! Database values to JSON, shared by the engines.
//!
//! * Dates and times are ISO 8601 strings (`2024-01-31`, `13:45:00`,
//!   `2024-01-31T13:45:00`, with `Z` when the value is a point in time).
//! * Binary values are base64 strings (standard alphabet, padded).
//! * Exact decimals (NUMERIC, DECIMAL) are JSON numbers when that loses
//!   nothing a reader would see (an integer that fits 64 bits, or at most
//!   15 significant digits, which f64 round-trips), and strings otherwise,
//!   so that `12345678901234567890.01` is not silently rounded.
//! * Non-finite floats (NaN, infinities) have no JSON number: strings.

use base64::Engine as _;
use serde_json::Value;
use sqlx::types::chrono::{NaiveDate, NaiveDateTime, NaiveTime};

pub(super) fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(|| Value::String(x.to_string()), Value::Number)
}

pub(super) fn bytes(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

pub(super) fn date(d: NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}

pub(super) fn time(t: NaiveTime) -> Value {
    Value::String(t.format("%H:%M:%S%.f").to_string())
}

pub(super) fn datetime(t: NaiveDateTime) -> Value {
    Value::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// A point in time, in UTC.
pub(super) fn datetime_utc(t: NaiveDateTime) -> Value {
    Value::String(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
}

/// An ISO 8601 duration (`P1Y2M3DT4H5M6.5S`); PostgreSQL keeps months,
/// days and microseconds apart, and so does this.
pub(super) fn interval(months: i32, days: i32, micros: i64) -> String {
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if micros != 0 {
        out.push('T');
        let hours = micros / 3_600_000_000;
        let minutes = (micros % 3_600_000_000) / 60_000_000;
        let rest = micros % 60_000_000;
        if hours != 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes != 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if rest != 0 {
            let secs = format!("{}.{:06}", rest / 1_000_000, (rest % 1_000_000).abs());
            let secs = secs.trim_end_matches('0').trim_end_matches('.');
            out.push_str(&format!("{secs}S"));
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

/// A decimal in text (`-12.30`, `NaN`) as JSON: see the module comment.
pub(super) fn decimal(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    let significant = text
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|b| *b == b'0')
        .count();
    let digits_only = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'));
    match text.parse::<f64>() {
        Ok(x) if digits_only && significant <= 15 => float(x),
        _ => Value::String(text.to_owned()),
    }
}

/// PostgreSQL's binary NUMERIC (base-10000 digits with a weight and a
/// display scale) as decimal text; `None` if malformed.
pub(super) fn pg_numeric(b: &[u8]) -> Option<String> {
    let word = |at: usize| -> Option<u16> {
        let pair = b.get(at..at + 2)?;
        Some(u16::from_be_bytes([pair[0], pair[1]]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|k| word(8 + 2 * k))
        .collect::<Option<_>>()?;
    let digit = |k: i32| -> u16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                out.push_str(&digit(k).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(k)));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut k = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(k)));
            k += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn pg_numeric_reads_weight_scale_and_sign() {
        // 12345.678 = [1, 2345, 6780], weight 1, scale 3
        let b = numeric(3, 1, 0, 3, &[1, 2345, 6780]);
        assert_eq!(pg_numeric(&b).as_deref(), Some("12345.678"));
        // -0.0012 = [12], weight -1, scale 4
        let b = numeric(1, -1, 0x4000, 4, &[12]);
        assert_eq!(pg_numeric(&b).as_deref(), Some("-0.0012"));
        // 10000 = [1], weight 1, scale 0
        assert_eq!(
            pg_numeric(&numeric(1, 1, 0, 0, &[1])).as_deref(),
            Some("10000")
        );
        // 0.00 with no digits
        assert_eq!(
            pg_numeric(&numeric(0, 0, 0, 2, &[])).as_deref(),
            Some("0.00")
        );
        assert_eq!(
            pg_numeric(&numeric(0, 0, 0xC000, 0, &[])).as_deref(),
            Some("NaN")
        );
        assert_eq!(pg_numeric(&[0, 1]), None);
    }

    #[test]
    fn decimals_are_numbers_unless_precision_would_be_lost() {
        assert_eq!(decimal("42"), json!(42));
        assert_eq!(decimal("-12.30"), json!(-12.3));
        assert_eq!(
            decimal("12345678901234567890.01"),
            json!("12345678901234567890.01")
        );
        assert_eq!(decimal("NaN"), json!("NaN"));
    }

    #[test]
    fn intervals_and_times_are_iso_8601() {
        assert_eq!(interval(14, 3, 3_723_500_000), "P1Y2M3DT1H2M3.5S");
        assert_eq!(interval(0, 0, 0), "PT0S");
        let t = NaiveDate::from_ymd_opt(2024, 1, 31)
            .and_then(|d| d.and_hms_opt(13, 45, 0))
            .expect("valid");
        assert_eq!(datetime(t), json!("2024-01-31T13:45:00"));
        assert_eq!(bytes(b"hi"), json!("aGk="));
    }
}
