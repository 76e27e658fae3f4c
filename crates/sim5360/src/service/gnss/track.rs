//! Where the module is: a fixed position, or a track (GPX `trkpt`/`rtept`/`wpt` with
//! times, or NMEA `RMC`/`GGA` sentences) replayed in real time and in a loop; between
//! points the position is interpolated, and speed and course follow from the points.

use std::path::Path;
use std::time::Duration;

/// A position and motion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Degrees, north and east positive.
    pub lat: f64,
    pub lon: f64,
    /// Metres above sea level.
    pub alt: f64,
    /// Knots, and degrees from true north.
    pub speed_kn: f64,
    pub course: f64,
}

/// A track: points with their time from the first one, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    points: Vec<(f64, f64, f64, f64)>,
}

/// Where positions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PositionSource {
    Fixed(Fix),
    Track(std::sync::Arc<Track>),
}

impl PositionSource {
    /// The position `elapsed` after the replay started.
    pub fn at(&self, elapsed: Duration) -> Fix {
        match self {
            Self::Fixed(f) => *f,
            Self::Track(t) => t.at(elapsed.as_secs_f64()),
        }
    }
}

/// Altitudes the module reports, in metres.
const ALTITUDE: std::ops::RangeInclusive<f64> = -1000.0..=20000.0;

/// A latitude and longitude (degrees) that name a place on Earth.
fn on_earth(lat: f64, lon: f64) -> bool {
    (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

/// `LAT,LON[,ALT]` in degrees (and metres).
pub fn parse_position(s: &str) -> Result<Fix, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(format!("{s:?}: expected LAT,LON[,ALT]"));
    }
    let num = |p: &str, what: &str| {
        p.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(format!("{what} {p:?} is not a number"))
    };
    let lat = num(parts[0], "latitude")?;
    let lon = num(parts[1], "longitude")?;
    let alt = parts.get(2).map_or(Ok(0.0), |a| num(a, "altitude"))?;
    if !on_earth(lat, lon) || !ALTITUDE.contains(&alt) {
        return Err(format!("{s:?}: latitude -90..90, longitude -180..180, altitude -1000..20000 m"));
    }
    Ok(Fix { lat, lon, alt, speed_kn: 0.0, course: 0.0 })
}

impl Track {
    /// A track of `(seconds from the start, lat, lon, alt)` points (at least one).
    pub fn new(mut points: Vec<(f64, f64, f64, f64)>) -> Result<Self, String> {
        if points.is_empty() {
            return Err("the track has no points".into());
        }
        // What the module reports must be a place on Earth at a time: a file that says
        // otherwise is refused with the point it got wrong.
        for (i, &(t, lat, lon, alt)) in points.iter().enumerate() {
            if !t.is_finite() || !on_earth(lat, lon) {
                return Err(format!("point {}: time {t}, latitude {lat}, longitude {lon} out of range", i + 1));
            }
            if !ALTITUDE.contains(&alt) {
                return Err(format!("point {}: altitude {alt} m out of -1000..20000", i + 1));
            }
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let t0 = points[0].0;
        for p in &mut points {
            p.0 -= t0;
        }
        Ok(Self { points })
    }

    /// Read a GPX file, or NMEA sentences (one per line).
    pub fn load(path: &Path) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&data).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A GPX document, or NMEA sentences (one per line).
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let text = String::from_utf8_lossy(data);
        if text.trim_start().starts_with('$') {
            return Self::from_nmea(&text);
        }
        Self::from_gpx(data)
    }

    fn from_gpx(data: &[u8]) -> Result<Self, String> {
        let gpx = gpx::read(data).map_err(|e| format!("not a GPX file: {e}"))?;
        let mut points = Vec::new();
        let all = gpx
            .tracks
            .iter()
            .flat_map(|t| t.segments.iter().flat_map(|s| s.points.iter()))
            .chain(gpx.routes.iter().flat_map(|r| r.points.iter()))
            .chain(gpx.waypoints.iter());
        for (i, w) in all.enumerate() {
            let p = w.point();
            let t = match w.time.as_ref().and_then(|t| t.format().ok()) {
                Some(s) => {
                    chrono::DateTime::parse_from_rfc3339(&s).map_err(|e| format!("time {s:?}: {e}"))?.timestamp_millis()
                        as f64
                        / 1000.0
                }
                // Without times, a point a second.
                None => i as f64,
            };
            points.push((t, p.y(), p.x(), w.elevation.unwrap_or(0.0)));
        }
        Self::new(points)
    }

    fn from_nmea(text: &str) -> Result<Self, String> {
        let mut points = Vec::new();
        let mut day = 0.0;
        let mut last_t = None;
        let mut alt = 0.0;
        for line in text.lines() {
            let Some(s) = super::nmea::parse(line.trim()) else { continue };
            let f: Vec<&str> = s.split(',').collect();
            // The sentence type's last three letters (`GPRMC`, `GNRMC`, ...); a talker
            // field with other than ASCII in it matches nothing (slicing it by bytes did panic).
            match f.first().map(|k| k.get(k.len().saturating_sub(3)..).unwrap_or("")) {
                Some("GGA") if f.len() > 9 => {
                    alt = f[9].parse().ok().filter(|a| ALTITUDE.contains(a)).unwrap_or(alt);
                }
                Some("RMC") if f.len() > 6 && f[2] == "A" => {
                    let (Some(t), Some(lat), Some(lon)) = (
                        super::nmea::parse_time(f[1]),
                        super::nmea::parse_coord(f[3], f[4]),
                        super::nmea::parse_coord(f[5], f[6]),
                    ) else {
                        continue;
                    };
                    // A sentence that names no place on Earth is skipped like a broken one.
                    if !on_earth(lat, lon) {
                        continue;
                    }
                    // Times wrap at midnight: keep them increasing.
                    if last_t.is_some_and(|l| t + day < l) {
                        day += 86400.0;
                    }
                    last_t = Some(t + day);
                    points.push((t + day, lat, lon, alt));
                }
                _ => {}
            }
        }
        Self::new(points).map_err(|_| "no valid RMC sentence".to_owned())
    }

    /// The position `secs` after the start, looping.
    pub fn at(&self, secs: f64) -> Fix {
        let last = self.points[self.points.len() - 1];
        let period = last.0;
        let (a, b, frac) = if period <= 0.0 || self.points.len() == 1 {
            (last, last, 0.0)
        } else {
            let t = secs.rem_euclid(period + 1.0).min(period);
            let i = self.points.partition_point(|p| p.0 <= t).clamp(1, self.points.len() - 1);
            let (a, b) = (self.points[i - 1], self.points[i]);
            let span = b.0 - a.0;
            (a, b, if span > 0.0 { (t - a.0) / span } else { 0.0 })
        };
        let lerp = |x: f64, y: f64| x + (y - x) * frac;
        let (dist_m, course) = distance_and_course(a.1, a.2, b.1, b.2);
        let dt = b.0 - a.0;
        let speed_kn = if dt > 0.0 { dist_m / dt / 0.514_444 } else { 0.0 };
        // Longitude the short way round: a step across the antimeridian (179.9 to -179.9)
        // goes 0.2 degrees east, not 359.8 west.
        let dlon = (b.2 - a.2 + 180.0).rem_euclid(360.0) - 180.0;
        let lon = (a.2 + dlon * frac + 180.0).rem_euclid(360.0) - 180.0;
        Fix { lat: lerp(a.1, b.1), lon, alt: lerp(a.3, b.3), speed_kn, course }
    }
}

/// Great-circle distance in metres and initial course in degrees between two points.
fn distance_and_course(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> (f64, f64) {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let a = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    let dist = 2.0 * 6_371_000.0 * a.sqrt().asin();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    (dist, y.atan2(x).to_degrees().rem_euclid(360.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_tracks() {
        assert_eq!(parse_position("52.5,13.4").unwrap().lat, 52.5);
        assert_eq!(parse_position("-33.8, 151.2, 58").unwrap().alt, 58.0);
        assert!(parse_position("91,0").is_err());
        assert!(parse_position("x,0").is_err());
        assert!(parse_position("1").is_err());
        let t = Track::new(vec![(10.0, 0.0, 0.0, 0.0), (20.0, 0.0, 0.001, 10.0)]).unwrap();
        let mid = t.at(5.0);
        assert!((mid.lon - 0.0005).abs() < 1e-9 && (mid.alt - 5.0).abs() < 1e-9);
        // 111 m in 10 s east: about 21.6 kn, course 90.
        assert!((mid.speed_kn - 21.6).abs() < 0.2, "{}", mid.speed_kn);
        assert!((mid.course - 90.0).abs() < 0.01);
        // It loops.
        assert!((t.at(16.0).lon - t.at(5.0).lon).abs() < 1e-9);
        // Across the antimeridian the short way: 0.2 degrees east, through 180.
        let t = Track::new(vec![(0.0, 0.0, 179.9, 0.0), (10.0, 0.0, -179.9, 0.0)]).unwrap();
        assert!((t.at(2.5).lon - 179.95).abs() < 1e-9, "{}", t.at(2.5).lon);
        assert!((t.at(7.5).lon + 179.95).abs() < 1e-9, "{}", t.at(7.5).lon);
        assert!((t.at(5.0).lon.abs() - 180.0).abs() < 1e-9, "{}", t.at(5.0).lon);
        assert!((t.at(5.0).course - 90.0).abs() < 0.01);
        // 0.2 degrees of the equator (22.2 km) in 10 s.
        assert!((t.at(5.0).speed_kn - 4323.0).abs() < 2.0, "{}", t.at(5.0).speed_kn);
    }

    #[test]
    fn nmea_and_gpx_tracks() {
        use super::super::nmea::sentence;
        let nmea = [
            sentence("GPGGA,120000.00,5231.000,N,01322.000,E,1,08,0.9,40.0,M,46.9,M,,"),
            sentence("GPRMC,120000.00,A,5231.000,N,01322.000,E,0.0,0.0,021226,,,A"),
            "$GPRMC,120005.00,A,0000.000,N,00000.000,E,0.0,0.0,021226,,,A*00\r\n".to_owned(),
            sentence("GPRMC,120010.00,A,5231.100,N,01322.000,E,0.0,0.0,021226,,,A"),
        ]
        .concat();
        // The sentence with a wrong checksum is skipped.
        let t = Track::from_nmea(&nmea).unwrap();
        assert_eq!(t.points.len(), 2);
        assert!((t.at(0.0).lat - 52.516_666).abs() < 1e-5);
        assert_eq!(t.at(0.0).alt, 40.0);
        let gpx = br#"<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">
            <trk><trkseg><trkpt lat="1.0" lon="2.0"><ele>3</ele><time>2026-01-01T00:00:00Z</time></trkpt>
            <trkpt lat="1.0" lon="2.001"><time>2026-01-01T00:00:04Z</time></trkpt></trkseg></trk></gpx>"#;
        let t = Track::from_gpx(gpx).unwrap();
        assert_eq!(t.points.len(), 2);
        assert!((t.at(2.0).lon - 2.0005).abs() < 1e-9);
    }

    /// What names no place on Earth: an NMEA sentence is skipped, a GPX point refused.
    #[test]
    fn impossible_places_are_not_replayed() {
        use super::super::nmea::sentence;
        let nmea = [
            // 99° 59' north, minutes of 75, and a time that is no number.
            sentence("GPRMC,120000.00,A,9959.000,N,01322.000,E,0.0,0.0,021226,,,A"),
            sentence("GPRMC,120001.00,A,5275.000,N,01322.000,E,0.0,0.0,021226,,,A"),
            sentence("GPRMC,1200inf,A,5231.000,N,01322.000,E,0.0,0.0,021226,,,A"),
            sentence("GPGGA,120000.00,5231.000,N,01322.000,E,1,08,0.9,inf,M,46.9,M,,"),
            sentence("GPRMC,120002.00,A,5231.000,N,01322.000,E,0.0,0.0,021226,,,A"),
        ]
        .concat();
        let t = Track::parse(nmea.as_bytes()).unwrap();
        assert_eq!(t.points.len(), 1);
        // A sentence type ending inside a multi-byte character (found by gnss_track).
        assert!(Track::parse(sentence("GP\u{e9}CC,1").as_bytes()).is_err());
        assert!((t.at(0.0).lat - 52.516_666).abs() < 1e-5 && t.at(0.0).alt == 0.0, "{:?}", t.at(0.0));
        let gpx = br#"<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">
            <wpt lat="1.0" lon="2.0"><ele>1e300</ele></wpt></gpx>"#;
        let e = Track::parse(gpx).unwrap_err();
        assert!(e.contains("point 1: altitude"), "{e}");
    }
}
