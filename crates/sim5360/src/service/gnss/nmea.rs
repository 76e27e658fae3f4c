//! NMEA 0183 sentences the module's NMEA port streams (GGA, RMC, GSA, GSV, VTG), with their
//! checksums; and the parsing of NMEA track files.

use super::Fix;
use chrono::{DateTime, Utc};

/// `$<body>*<checksum>` and CR LF; the checksum is the XOR of the body's bytes.
pub fn sentence(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}\r\n")
}

/// The body of a sentence whose checksum is right.
pub fn parse(line: &str) -> Option<&str> {
    let (body, sum) = line.strip_prefix('$')?.rsplit_once('*')?;
    let want = u8::from_str_radix(sum.get(..2)?, 16).ok()?;
    (body.bytes().fold(0u8, |a, b| a ^ b) == want).then_some(body)
}

/// `hhmmss[.ss]` as seconds of the day (digits only).
pub fn parse_time(f: &str) -> Option<f64> {
    if f.len() < 6 || !f.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let h: f64 = f.get(0..2)?.parse().ok()?;
    let m: f64 = f.get(2..4)?.parse().ok()?;
    let s: f64 = f.get(4..)?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// `ddmm.mmmm`/`dddmm.mmmm` and a hemisphere as signed degrees (digits only, minutes
/// below 60).
pub fn parse_coord(f: &str, hemi: &str) -> Option<f64> {
    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let dot = f.find('.').unwrap_or(f.len());
    let deg_len = dot.checked_sub(2)?;
    let deg: f64 = f.get(..deg_len)?.parse().ok()?;
    let min: f64 = f.get(deg_len..)?.parse().ok()?;
    if min >= 60.0 {
        return None;
    }
    let v = deg + min / 60.0;
    match hemi {
        "N" | "E" => Some(v),
        "S" | "W" => Some(-v),
        _ => None,
    }
}

/// Degrees as `ddmm.mmmmmm` (`width` 2 for latitude, 3 for longitude, `decimals` of the
/// minutes) and the hemisphere letter.
pub fn coord(v: f64, width: usize, decimals: usize, pos: char, neg: char) -> (String, char) {
    let a = v.abs();
    let mut deg = a.trunc();
    let mut min = (a - deg) * 60.0;
    // Rounding the minutes up to 60 carries into the degrees.
    let scale = 10f64.powi(decimals as i32);
    if (min * scale).round() / scale >= 60.0 {
        deg += 1.0;
        min = 0.0;
    }
    (
        format!("{:0w$}{:0mw$.d$}", deg as u32, min, w = width, mw = decimals + 3, d = decimals),
        if v < 0.0 { neg } else { pos },
    )
}

/// Satellites in view: PRN, elevation, azimuth, SNR (a fixed, plausible sky).
const SKY: [(u8, u8, u16, u8); 8] = [
    (2, 67, 113, 44),
    (5, 45, 296, 41),
    (12, 38, 60, 39),
    (13, 21, 172, 36),
    (15, 57, 242, 43),
    (18, 14, 320, 31),
    (24, 30, 25, 38),
    (29, 9, 205, 28),
];

/// The sentences of one second: GGA, RMC, GSA, GSV (two), VTG; without a fix the empty
/// forms (no position, status `V`, fix mode 1).
pub fn second(at: DateTime<Utc>, fix: Option<&Fix>) -> String {
    let time = at.format("%H%M%S%.3f").to_string();
    let time = &time[..time.len() - 1];
    let date = at.format("%d%m%y");
    let mut out = String::new();
    match fix {
        Some(f) => {
            let (lat, ns) = coord(f.lat, 2, 5, 'N', 'S');
            let (lon, ew) = coord(f.lon, 3, 5, 'E', 'W');
            let kmh = f.speed_kn * 1.852;
            out += &sentence(&format!("GPGGA,{time},{lat},{ns},{lon},{ew},1,08,0.9,{:.1},M,46.9,M,,", f.alt));
            out += &sentence(&format!(
                "GPRMC,{time},A,{lat},{ns},{lon},{ew},{:.1},{:.1},{date},,,A",
                f.speed_kn, f.course
            ));
            out += &sentence("GPGSA,A,3,02,05,12,13,15,18,24,29,,,,,1.6,0.9,1.3");
            out += &gsv(true);
            out += &sentence(&format!("GPVTG,{:.1},T,,M,{:.1},N,{kmh:.1},K,A", f.course, f.speed_kn));
        }
        None => {
            out += &sentence(&format!("GPGGA,{time},,,,,0,00,,,M,,M,,"));
            out += &sentence(&format!("GPRMC,{time},V,,,,,,,{date},,,N"));
            out += &sentence("GPGSA,A,1,,,,,,,,,,,,,,,");
            out += &gsv(false);
            out += &sentence("GPVTG,,T,,M,,N,,K,N");
        }
    }
    out
}

/// GSV: the sky in two sentences of four satellites (no SNR without a fix).
fn gsv(tracking: bool) -> String {
    let mut out = String::new();
    for (i, four) in SKY.chunks(4).enumerate() {
        let mut body = format!("GPGSV,2,{},{:02}", i + 1, SKY.len());
        for (prn, el, az, snr) in four {
            body += &format!(",{prn:02},{el:02},{az:03},");
            if tracking {
                body += &format!("{snr:02}");
            }
        }
        out += &sentence(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn checksums_and_fields() {
        // A published example: $GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47
        assert_eq!(
            sentence("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),
            "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
        );
        assert_eq!(
            parse("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"),
            Some("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
        );
        assert_eq!(parse("$GPGGA,123519*00"), None);
        assert_eq!(coord(48.1173, 2, 3, 'N', 'S'), ("4807.038".into(), 'N'));
        assert_eq!(coord(-11.516_666_7, 3, 3, 'E', 'W'), ("01131.000".into(), 'W'));
        assert!((parse_coord("4807.038", "N").unwrap() - 48.1173).abs() < 1e-6);
        assert_eq!(parse_time("123519.50"), Some(45319.5));
        let t = Utc.with_ymd_and_hms(2026, 12, 2, 12, 35, 19).unwrap();
        let fix = Fix { lat: 48.1173, lon: 11.516_666_7, alt: 545.4, speed_kn: 0.0, course: 0.0 };
        let s = second(t, Some(&fix));
        assert_eq!(s.lines().count(), 6);
        for l in s.lines() {
            assert!(parse(l).is_some(), "bad checksum: {l}");
        }
        assert!(s.starts_with("$GPGGA,123519.00,4807.03800,N,01131.00000,E,1,08,0.9,545.4,M"), "{s}");
        let empty = second(t, None);
        assert!(empty.contains("$GPRMC,123519.00,V,,,,,,,021226,,,N*"), "{empty}");
    }
}
