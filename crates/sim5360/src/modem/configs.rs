//! Settings a service takes from the command line (the GNSS position source, say), handed
//! to the core as values of their own types: the core keeps them and names none.

use std::any::{Any, TypeId};

/// One value per type.
#[derive(Debug, Default)]
pub struct Configs {
    values: Vec<(TypeId, Box<dyn Any + Send + Sync>)>,
}

impl Configs {
    /// With `value` (replacing one of its type).
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.set(value);
        self
    }

    /// Set the value of `T` (replacing one).
    pub fn set<T: Any + Send + Sync>(&mut self, value: T) {
        self.values.retain(|(t, _)| *t != TypeId::of::<T>());
        self.values.push((TypeId::of::<T>(), Box::new(value)));
    }

    /// Remove the value of `T`, if any.
    pub fn remove<T: Any>(&mut self) {
        self.values.retain(|(t, _)| *t != TypeId::of::<T>());
    }

    pub fn clear(&mut self) {
        self.values.clear();
    }

    /// The value of type `T`, if given.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.values.iter().find(|(t, _)| *t == TypeId::of::<T>()).and_then(|(_, v)| v.downcast_ref())
    }
}
