//! `shard`: which part of an input one call of several keeps.

use std::fmt;
use std::str::FromStr;

use serde_json::Value as J;

use crate::error::{Error, Result};

/// The valid forms of a shard, for its error messages.
pub(crate) const SHARD_VALUES: &str = "K/N with 0 ≤ K < N, e.g. 0/3, 1/3 and 2/3 for three processes (K counts from 0, as the array index of a scheduler's job array does)";

/// One of `N` parts of an input (option `shard`, flag `--shard K/N`): a call with shard `K/N`
/// writes only the top-level items that fall to part `K`, so that `N` processes — on `N`
/// machines, say the tasks of a scheduler's job array — each given the same input and
/// `K` = 0, 1, …, N−1, together write every item exactly once, without talking to each
/// other.
///
/// Which part an item falls to:
/// - an item whose root primary key is known once it is cast (every column of the key has a
///   value): the XXH3-64 hash of the key's JSON text (`17`, `"abc"`, `[1,"x"]` for a
///   composite key), modulo `N`. Every occurrence of a key falls to the same part, so the
///   rule that the last occurrence of a key wins holds as in one call;
/// - any other item (a generated key, no primary key, or an invalid item): its position in
///   the input (1, 2, … over all the call's inputs) minus one, modulo `N`. An invalid item
///   is skipped and reported by exactly one part.
///
/// Every part reads and casts the whole input; the items of the other parts are counted in
/// [`Summary::other_shards`](crate::Summary::other_shards) and nothing else (they are not
/// `read`, skipped or written by this part). Rows that several parts write — a tag shared
/// by posts of authors of different parts, say — meet through the conflict rules, as those
/// of two imports at once do. The parts must run the same version of bulkinup with the same
/// schema and options: the hash is only specified to be the same across processes,
/// platforms and machines, not across versions.
///
/// ```
/// use bulkinup::Shard;
/// let shard: Shard = "1/3".parse()?;
/// assert_eq!((shard.index(), shard.count()), (1, 3));
/// assert_eq!(shard.to_string(), "1/3");
/// // Every key falls to exactly one of the parts.
/// let parts: Vec<Shard> = (0..3).map(|k| Shard::new(k, 3)).collect::<Result<_, _>>()?;
/// for key in [serde_json::json!(7), serde_json::json!("x")] {
///     assert_eq!(parts.iter().filter(|p| p.owns(&key, 1)).count(), 1);
/// }
/// assert!("3/3".parse::<Shard>().is_err());
/// # Ok::<(), bulkinup::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Part `index` (from 0) of `count`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] (`shard`) when `count` is 0 or `index` is not below it.
    pub fn new(index: u64, count: u64) -> Result<Shard> {
        if count == 0 {
            return Err(Error::option(
                "shard",
                "the number of parts N must be at least 1",
                Some(SHARD_VALUES),
            ));
        }
        if index >= count {
            return Err(Error::option(
                "shard",
                format!(
                    "part {index} of {count} does not exist: K counts from 0, so the parts of {count} are 0 to {}",
                    count - 1
                ),
                Some(SHARD_VALUES),
            ));
        }
        Ok(Shard { index, count })
    }

    /// The part this call keeps, from 0.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of parts.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the item with the cast root primary key `key` (`null`, or an array with a
    /// `null`, when the key is not known) at `position` in the input (from 1) falls to this
    /// part.
    pub fn owns(&self, key: &J, position: u64) -> bool {
        self.part_of(key, position) == self.index
    }

    /// The part the item falls to (see [`Shard`]).
    fn part_of(&self, key: &J, position: u64) -> u64 {
        let known = match key {
            J::Null => false,
            J::Array(parts) => !parts.is_empty() && parts.iter().all(|p| !p.is_null()),
            _ => true,
        };
        match known {
            true => xxhash_rust::xxh3::xxh3_64(key.to_string().as_bytes()) % self.count,
            false => position.saturating_sub(1) % self.count,
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, e.g. `0/3`.
    fn from_str(text: &str) -> Result<Shard> {
        let not_a_shard = || {
            Error::option(
                "shard",
                format!("`{text}` is not of the form K/N"),
                Some(SHARD_VALUES),
            )
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(not_a_shard)?;
        let k = k.trim().parse::<u64>().map_err(|_| not_a_shard())?;
        let n = n.trim().parse::<u64>().map_err(|_| not_a_shard())?;
        Shard::new(k, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(n: u64) -> Vec<Shard> {
        (0..n).map(|k| Shard::new(k, n).expect("a part")).collect()
    }

    #[test]
    fn every_key_and_every_position_falls_to_exactly_one_part() {
        for n in [1, 2, 3, 7] {
            let parts = parts(n);
            for i in 0..500u64 {
                for key in [json!(i), json!(format!("k{i}")), json!([i, "x"]), J::Null] {
                    let owners = parts.iter().filter(|p| p.owns(&key, i + 1)).count();
                    assert_eq!(owners, 1, "key {key} at {} of {n} parts", i + 1);
                }
            }
        }
    }

    #[test]
    fn the_same_key_falls_to_the_same_part_wherever_it_is() {
        let parts = parts(5);
        for i in 0..200u64 {
            let key = json!(i);
            let at_1: Vec<bool> = parts.iter().map(|p| p.owns(&key, 1)).collect();
            let at_999: Vec<bool> = parts.iter().map(|p| p.owns(&key, 999)).collect();
            assert_eq!(at_1, at_999, "key {i}");
        }
    }

    #[test]
    fn keys_spread_over_the_parts() {
        let parts = parts(3);
        for p in &parts {
            let kept = (1..=3000u64).filter(|i| p.owns(&json!(i), 1)).count();
            assert!((800..1200).contains(&kept), "part {p} kept {kept} of 3000");
        }
    }

    #[test]
    fn an_unknown_key_falls_by_position_round_robin() {
        let parts = parts(3);
        for key in [J::Null, json!([1, null]), json!([])] {
            let owners: Vec<u64> = (1..=6)
                .map(|pos| {
                    parts
                        .iter()
                        .position(|p| p.owns(&key, pos))
                        .expect("an owner") as u64
                })
                .collect();
            assert_eq!(owners, vec![0, 1, 2, 0, 1, 2], "{key}");
        }
    }

    #[test]
    fn the_hash_is_xxh3_of_the_key_text() {
        // Pinned: processes on other machines must agree, so the rule may not drift.
        let key = json!(42);
        let expected = xxhash_rust::xxh3::xxh3_64(b"42") % 4;
        assert_eq!(
            Shard::new(expected, 4).map(|s| s.owns(&key, 1)).ok(),
            Some(true)
        );
    }

    #[test]
    fn bad_forms_name_the_form() {
        for text in ["3", "a/3", "1/b", "3/3", "0/0", "-1/3", "1/3/4"] {
            let err = text.parse::<Shard>().expect_err(text).to_string();
            assert!(
                err.contains("shard") && err.contains("K/N"),
                "{text}: {err}"
            );
        }
        assert!(
            "3/3"
                .parse::<Shard>()
                .expect_err("out of range")
                .to_string()
                .contains("K counts from 0")
        );
        assert_eq!(" 2 / 3 ".parse::<Shard>().ok(), Shard::new(2, 3).ok());
    }
}
