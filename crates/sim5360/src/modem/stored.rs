//! Values that commands store and read back by command name (`AT+CSCLK=1`, then
//! `AT+CSCLK?`), for the features with many such switches. The feature that owns them
//! knows each one's power-on value and range.

/// Values set so far, by command name; a name never set has its power-on value.
#[derive(Debug, Clone, Default)]
pub struct StoredValues<T> {
    values: Vec<(&'static str, T)>,
}

impl<T: Copy> StoredValues<T> {
    /// The value of `name`, or `default` if it was never set.
    pub fn get(&self, name: &str, default: T) -> T {
        self.values.iter().find(|(n, _)| *n == name).map_or(default, |(_, v)| *v)
    }

    pub fn set(&mut self, name: &'static str, v: T) {
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = v,
            None => self.values.push((name, v)),
        }
    }
}
