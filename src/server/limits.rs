//! Per-source-address connection slots (a count per IP address, released
//! on `Drop`) and the random early drop of unauthenticated connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::MaxStartups;

/// Whether a new connection is refused when `unauthenticated` others have
/// not logged in yet, given `roll`, a uniform random number in 0..100:
/// never below `start`, always at `full`, and in between with a chance
/// rising linearly from `rate_percent` to 100 %, as OpenSSH's MaxStartups.
pub fn early_drop(startups: &MaxStartups, unauthenticated: usize, roll: u8) -> bool {
    if unauthenticated >= startups.full {
        return true;
    }
    if unauthenticated < startups.start {
        return false;
    }
    let rate = usize::from(startups.rate_percent);
    let span = startups.full.saturating_sub(startups.start).max(1);
    let chance = rate + (100 - rate.min(100)) * (unauthenticated - startups.start) / span;
    usize::from(roll) < chance
}

/// Counts open connections per source address against a cap.
#[derive(Clone)]
pub struct AddressSlots {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_address: usize,
}

/// One connection's slot; dropping it frees the slot.
pub struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl AddressSlots {
    /// Slots allowing at most `max_per_address` connections from one address.
    pub fn new(max_per_address: usize) -> AddressSlots {
        AddressSlots {
            counts: Arc::default(),
            max_per_address,
        }
    }

    /// Takes a slot for `address`, or `None` when it already has the maximum.
    pub fn try_take(&self, address: IpAddr) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.counts.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_drop_follows_start_rate_full() {
        let startups = MaxStartups {
            start: 10,
            rate_percent: 30,
            full: 100,
        };
        let refused = |open: usize| {
            (0..100u8)
                .filter(|&roll| early_drop(&startups, open, roll))
                .count()
        };
        assert_eq!(refused(0), 0);
        assert_eq!(refused(9), 0);
        assert_eq!(refused(10), 30);
        assert_eq!(refused(55), 65);
        assert_eq!(refused(99), 99);
        assert_eq!(refused(100), 100);
        let hard_cap = MaxStartups {
            start: 5,
            rate_percent: 100,
            full: 5,
        };
        assert!(!early_drop(&hard_cap, 4, 99));
        assert!(early_drop(&hard_cap, 5, 0));
    }

    #[test]
    fn an_address_gets_at_most_its_slots_and_dropping_one_frees_it() {
        let slots = AddressSlots::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let a = slots.try_take(ip).unwrap();
        let _b = slots.try_take(ip).unwrap();
        assert!(slots.try_take(ip).is_none());
        assert!(slots.try_take(other).is_some());
        drop(a);
        assert!(slots.try_take(ip).is_some());
    }
}
