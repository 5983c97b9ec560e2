//! All connection deadlines of one endpoint in one ordered set, so the
//! JavaScript driver arms a single timer for the earliest.

use std::collections::BTreeSet;
use std::time::Instant;

#[derive(Default)]
pub struct Timers {
    set: BTreeSet<(Instant, u32)>,
}

impl Timers {
    /// Moves connection `id` from deadline `old` to `new`.
    pub fn update(&mut self, id: u32, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        if let Some(t) = old {
            self.set.remove(&(t, id));
        }
        if let Some(t) = new {
            self.set.insert((t, id));
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.set.first().map(|(t, _)| *t)
    }

    /// Removes and returns every connection whose deadline is at or before `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<u32> {
        let mut ids = Vec::new();
        while let Some(&(t, id)) = self.set.first() {
            if t > now {
                break;
            }
            self.set.remove(&(t, id));
            ids.push(id);
        }
        ids
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn orders_and_expires() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.update(1, None, Some(now + Duration::from_millis(50)));
        t.update(2, None, Some(now + Duration::from_millis(10)));
        assert_eq!(t.next(), Some(now + Duration::from_millis(10)));
        t.update(
            2,
            Some(now + Duration::from_millis(10)),
            Some(now + Duration::from_millis(90)),
        );
        assert_eq!(t.expired(now + Duration::from_millis(60)), vec![1]);
        assert_eq!(t.len(), 1);
    }
}
