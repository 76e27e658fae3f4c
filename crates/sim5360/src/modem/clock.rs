//! The module's real-time clock: host time plus the offset that `AT+CCLK` sets, and the
//! time zone it was given (in quarter hours, as 27.007 writes it).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use std::time::SystemTime;

/// Source of wall-clock time; the runner passes the host clock, tests a fixed one.
pub type WallClock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// See the module documentation.
pub struct ModuleClock {
    wall: WallClock,
    offset: Duration,
    tz_quarters: i8,
}

impl std::fmt::Debug for ModuleClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleClock").field("offset", &self.offset).field("tz_quarters", &self.tz_quarters).finish()
    }
}

impl ModuleClock {
    pub fn new(wall: WallClock) -> Self {
        Self { wall, offset: Duration::zero(), tz_quarters: 0 }
    }

    /// The host's (the network's) UTC now, whatever the module's clock says.
    pub fn wall_now(&self) -> DateTime<Utc> {
        (self.wall)()
    }

    /// The module's idea of UTC now.
    pub fn now_utc(&self) -> DateTime<Utc> {
        (self.wall)() + self.offset
    }

    pub fn tz_quarters(&self) -> i8 {
        self.tz_quarters
    }

    /// Module local time of a host timestamp (file times), with the clock's offset applied.
    pub fn local(&self, t: SystemTime) -> NaiveDateTime {
        let utc: DateTime<Utc> = t.into();
        (utc + self.offset + Duration::minutes(15 * i64::from(self.tz_quarters))).naive_utc()
    }

    /// Module local time now.
    pub fn now_local(&self) -> NaiveDateTime {
        (self.now_utc() + Duration::minutes(15 * i64::from(self.tz_quarters))).naive_utc()
    }

    /// Set the clock to `local` in zone `tz_quarters` (what `AT+CCLK=` gives).
    pub fn set(&mut self, local: NaiveDateTime, tz_quarters: i8) {
        let utc = local - Duration::minutes(15 * i64::from(tz_quarters));
        self.offset = utc.and_utc() - (self.wall)();
        self.tz_quarters = tz_quarters;
    }

    /// Set the clock to `utc` (a network time) in zone `tz_quarters`.
    pub fn set_utc(&mut self, utc: DateTime<Utc>, tz_quarters: i8) {
        self.offset = utc - (self.wall)();
        self.tz_quarters = tz_quarters;
    }

    /// `yy/MM/dd,hh:mm:ss±zz` as `AT+CCLK?` prints it.
    pub fn cclk_string(&self) -> String {
        let tz = self.tz_quarters;
        format!(
            "{}{}{:02}",
            self.now_local().format("%y/%m/%d,%H:%M:%S"),
            if tz < 0 { '-' } else { '+' },
            tz.unsigned_abs()
        )
    }

    /// Parse `yy/MM/dd,hh:mm:ss±zz` (zone -47..=48 quarters).
    pub fn parse_cclk(s: &str) -> Option<(NaiveDateTime, i8)> {
        // ASCII only: a multi-byte character could otherwise make byte 17 fall inside one.
        if s.len() != 20 || !s.is_ascii() {
            return None;
        }
        let (dt, tz) = s.split_at(17);
        let local = NaiveDateTime::parse_from_str(dt, "%y/%m/%d,%H:%M:%S").ok()?;
        let sign = match tz.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let q: i8 = tz[1..].parse().ok().filter(|_| tz[1..].bytes().all(|b| b.is_ascii_digit()))?;
        let q = sign * q;
        (-47..=48).contains(&q).then_some((local, q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn set_and_read() {
        let mut c = ModuleClock::new(Box::new(|| Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()));
        assert_eq!(c.cclk_string(), "26/01/02,03:04:05+00");
        let (t, q) = ModuleClock::parse_cclk("08/11/28,12:30:35+32").unwrap();
        c.set(t, q);
        assert_eq!(c.cclk_string(), "08/11/28,12:30:35+32");
        assert_eq!(c.now_utc(), Utc.with_ymd_and_hms(2008, 11, 28, 4, 30, 35).unwrap());
        assert!(ModuleClock::parse_cclk("08/11/28,12:30:35+49").is_none());
        assert!(ModuleClock::parse_cclk("08/13/28,12:30:35+00").is_none());
        assert!(ModuleClock::parse_cclk("08/11/28 12:30:35+00").is_none());
        assert_eq!(ModuleClock::parse_cclk("08/11/28,12:30:35-47").unwrap().1, -47);
        // Twenty bytes with a two-byte character across byte 17: refused, no panic.
        assert!(ModuleClock::parse_cclk("08/11/28,12:30:3\u{205}+0").is_none());
    }
}
