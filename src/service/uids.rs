//! Which uid each account's sandboxed programs run as, on a root server:
//! one of `[sandbox] uids`, its own, and the same across restarts.
//!
//! The first choice for an account is derived from its name (FNV-1a,
//! modulo the range), so it is the same on every machine; when that uid is
//! taken by another account the next free one is used. Either way the
//! choice is written to [`UID_TABLE_FILE`] in the homes folder (one
//! `NAME UID` line per account, replaced whole through a rename) before it
//! is used, and read back at start, so an account keeps its uid when
//! others come and go, and a removed account's uid is never given to
//! another (its files, left in its home, stay out of that one's reach).
//! An entry outside a changed range is chosen again.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The table's file name, in the homes folder (beside the homes, never in
/// one: no session can see it).
pub const UID_TABLE_FILE: &str = ".sandbox-uids";

/// Accounts and their uids, persisted.
#[derive(Debug)]
pub struct UidTable {
    path: PathBuf,
    range: RangeInclusive<u32>,
    by_name: Mutex<BTreeMap<String, u32>>,
}

impl UidTable {
    /// The table kept in `homes`, for uids in `range`. A missing file is
    /// an empty table; lines that do not read as `NAME UID` are skipped,
    /// and so is a line whose uid an earlier line already gave to another
    /// account (a hand edit): two accounts never share a uid, the later
    /// one is given a new one when it next runs a program.
    pub fn load(homes: &Path, range: RangeInclusive<u32>) -> UidTable {
        let path = homes.join(UID_TABLE_FILE);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut by_name = BTreeMap::new();
        let mut holders: BTreeMap<u32, String> = BTreeMap::new();
        for line in text.lines() {
            let Some((name, uid)) = line.split_once(' ') else {
                continue;
            };
            let Ok(uid) = uid.trim().parse::<u32>() else {
                continue;
            };
            match holders.get(&uid) {
                Some(holder) if holder != name => tracing::warn!(
                    account = name,
                    uid,
                    holder = holder.as_str(),
                    "{UID_TABLE_FILE}: uid already held by another account; choosing a new one"
                ),
                _ => {
                    holders.insert(uid, name.to_owned());
                    by_name.insert(name.to_owned(), uid);
                }
            }
        }
        UidTable {
            path,
            range,
            by_name: Mutex::new(by_name),
        }
    }

    /// `account`'s uid, chosen and written down the first time.
    pub fn uid_for(&self, account: &str) -> Result<u32, String> {
        let mut by_name = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(uid) = by_name.get(account)
            && self.range.contains(uid)
        {
            return Ok(*uid);
        }
        let taken: std::collections::BTreeSet<u32> = by_name
            .iter()
            .filter(|(name, _)| name.as_str() != account)
            .map(|(_, uid)| *uid)
            .collect();
        let uid = choose(account, &self.range, &taken).ok_or_else(|| {
            format!(
                "every uid of the sandbox range is taken ({} accounts)",
                taken.len()
            )
        })?;
        by_name.insert(account.to_owned(), uid);
        if let Err(err) = self.save(&by_name) {
            by_name.remove(account);
            return Err(format!("{}: {err}", self.path.display()));
        }
        Ok(uid)
    }

    fn save(&self, by_name: &BTreeMap<String, u32>) -> std::io::Result<()> {
        let mut text = String::new();
        for (name, uid) in by_name {
            text.push_str(&format!("{name} {uid}\n"));
        }
        if let Some(homes) = self.path.parent() {
            std::fs::create_dir_all(homes)?;
        }
        let temporary = self.path.with_extension("new");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)
    }
}

/// The uid derived from `account`, or the next one after it (wrapping)
/// that is not `taken`.
fn choose(
    account: &str,
    range: &RangeInclusive<u32>,
    taken: &std::collections::BTreeSet<u32>,
) -> Option<u32> {
    let size = u64::from(*range.end() - *range.start()) + 1;
    let start = fnv1a(account.as_bytes()) % size;
    (0..size.min(taken.len() as u64 + 1))
        .map(|step| (start + step) % size)
        .filter_map(|offset| u32::try_from(u64::from(*range.start()) + offset).ok())
        .find(|uid| !taken.contains(uid))
}

/// 64-bit FNV-1a: small, fixed, and the same on every build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_written_twice_by_hand_stays_with_its_first_account() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(UID_TABLE_FILE), "alice 5003\nbob 5003\n").unwrap();
        let table = UidTable::load(dir.path(), 5000..=5009);
        assert_eq!(table.uid_for("alice").unwrap(), 5003);
        let bob = table.uid_for("bob").unwrap();
        assert_ne!(bob, 5003);
        let again = UidTable::load(dir.path(), 5000..=5009);
        assert_eq!(again.uid_for("alice").unwrap(), 5003);
        assert_eq!(again.uid_for("bob").unwrap(), bob);
    }

    #[test]
    fn each_account_keeps_a_uid_of_its_own_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let table = UidTable::load(dir.path(), 5000..=5009);
        let alice = table.uid_for("alice").unwrap();
        let bob = table.uid_for("bob").unwrap();
        assert_ne!(alice, bob);
        assert!((5000..=5009).contains(&alice) && (5000..=5009).contains(&bob));
        assert_eq!(table.uid_for("alice").unwrap(), alice);
        let again = UidTable::load(dir.path(), 5000..=5009);
        assert_eq!(again.uid_for("bob").unwrap(), bob);
        assert_eq!(again.uid_for("alice").unwrap(), alice);
        let text = std::fs::read_to_string(dir.path().join(UID_TABLE_FILE)).unwrap();
        assert_eq!(text, format!("alice {alice}\nbob {bob}\n"));
    }

    #[test]
    fn collisions_take_the_next_free_uid_until_the_range_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let table = UidTable::load(dir.path(), 7000..=7002);
        let mut uids: Vec<u32> = ["a", "b", "c"]
            .iter()
            .map(|name| table.uid_for(name).unwrap())
            .collect();
        uids.sort_unstable();
        assert_eq!(uids, [7000, 7001, 7002]);
        let full = table.uid_for("d").unwrap_err();
        assert!(
            full.contains("every uid of the sandbox range is taken"),
            "{full}"
        );
        // The derived choice does not depend on the table.
        let other = tempfile::tempdir().unwrap();
        let fresh = UidTable::load(other.path(), 7000..=7002);
        assert_eq!(
            fresh.uid_for("a").unwrap(),
            7000 + u32::try_from(fnv1a(b"a") % 3).unwrap()
        );
    }

    #[test]
    fn an_entry_outside_a_changed_range_is_chosen_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(UID_TABLE_FILE), "alice 42\nbroken line\n").unwrap();
        let table = UidTable::load(dir.path(), 9000..=9100);
        let alice = table.uid_for("alice").unwrap();
        assert!((9000..=9100).contains(&alice));
    }
}
