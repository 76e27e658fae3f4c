//! The device model's plain state (battery, temperature, ADC, the switches clients set),
//! as the core keeps it in `Ctx::device`; its commands are in `device.rs`.

use crate::modem::StoredValues;

/// The power side of the device model, and the switches set by the commands above.
#[derive(Debug, Clone)]
pub struct Device {
    /// Battery charge state (`<bcs>`: 0 not charging), level in percent, millivolts.
    pub battery: (u8, u8, u16),
    pub temperature_c: i16,
    pub adc_mv: u16,
    /// `AT+CMTE` (over-temperature reporting switch).
    pub cmte: u8,
    /// Switches (`AT+CSCLK`, `AT+CVHU`, ...), by command name, and their values.
    pub(super) switches: StoredValues<u8>,
    /// `AT+CVAUXV` level.
    pub vaux: u8,
}

impl Default for Device {
    fn default() -> Self {
        Self {
            battery: (0, 92, 4125),
            temperature_c: 33,
            adc_mv: 1200,
            cmte: 0,
            switches: StoredValues::default(),
            vaux: 0,
        }
    }
}
