//! The result of a call, and the once-per-call report of skipped items.

use std::collections::BTreeMap;

use serde_json::{Value as J, json};

use crate::changeset::Changeset;
use crate::item::Item;
use crate::plan::Verb;

/// How many primary keys of skipped items the warning lists.
pub const SKIPPED_KEYS_LISTED: usize = 50;

/// The hint that ends [`Summary::skipped_line`] when most skipped items lack a child's
/// foreign key that `infer_foreign_keys` would fill.
pub const INFER_FOREIGN_KEYS_HINT: &str = "hint: most of them lack a has_many/has_one child's foreign key, which --infer-foreign-keys (library option `infer_foreign_keys`) fills from the parent's key";

/// What a call wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The verb.
    pub verb: Verb,
    /// The root schema of the call (empty in [`Summary::new`]'s summary until a call sets
    /// it).
    pub root: String,
    /// Valid top-level items sent to the database, duplicates included.
    pub written: u64,
    /// Top-level items skipped as invalid.
    pub skipped: u64,
    /// Top-level items that were invalid and recovered with `recover_changeset_errors`
    /// (they are counted in `written` too).
    pub recovered: u64,
    /// Rows sent to each table after de-duplication, join tables included.
    pub rows: BTreeMap<String, u64>,
    /// Whether the counts of `rows` are of committed rows (not part of the JSON summary).
    /// `false` while a one-transaction call runs (its rows are sent, not yet committed) and
    /// in a dry run; `true` in the summary a call that wrote returns, in the progress report
    /// a one-transaction call makes once its commit succeeded, and in every progress report
    /// of a call with `max_concurrency` (its counts come only from chunks that committed).
    pub committed: bool,
    /// Statements sent to each table (not part of the JSON summary).
    pub statements: BTreeMap<String, u64>,
    /// The primary keys of the first [`SKIPPED_KEYS_LISTED`] skipped items, in input order
    /// (not part of the JSON summary).
    pub skipped_keys: Vec<J>,
    /// Of the skipped items, those with a `has_many`/`has_one` child whose foreign key is
    /// required and absent, which `infer_foreign_keys` (`--infer-foreign-keys`) would fill from
    /// the parent (not part of the JSON summary). When they are most of the skipped items,
    /// [`Summary::skipped_line`] ends with a hint.
    pub skipped_for_missing_foreign_key: u64,
    /// Top-level items the database refused and that were set aside, with `on_error` =
    /// `reject` ([`OnError::Reject`](crate::OnError::Reject)); not counted in `written`.
    pub rejected: u64,
    /// The primary keys of the first [`SKIPPED_KEYS_LISTED`] rejected items, in input order
    /// (not part of the JSON summary).
    pub rejected_keys: Vec<J>,
    /// With [`Options::shard`](crate::Options::shard): the top-level items that fell to the
    /// other parts of the input, cast but not written, skipped or counted in
    /// [`read`](Summary::read) (in the JSON summary as `other_shards` when not 0).
    pub other_shards: u64,
}

impl Summary {
    /// An empty summary for `verb`: no counts, nothing committed.
    pub fn new(verb: Verb) -> Self {
        Summary {
            verb,
            root: String::new(),
            written: 0,
            skipped: 0,
            recovered: 0,
            rows: BTreeMap::new(),
            committed: false,
            statements: BTreeMap::new(),
            skipped_keys: Vec::new(),
            skipped_for_missing_foreign_key: 0,
            rejected: 0,
            rejected_keys: Vec::new(),
            other_shards: 0,
        }
    }

    /// The one line that reports a call's skipped items — the library's `tracing` warning and
    /// the CLI's standard-error line — or `None` when nothing was skipped:
    /// `insert Author: skipped 1 of 2 items as invalid; primary keys: [2]` (`first 50 primary
    /// keys` when more were skipped). When more than half of the skipped items lack a
    /// `has_many`/`has_one` child's foreign key that `infer_foreign_keys` would fill
    /// ([`Summary::skipped_for_missing_foreign_key`]), the line ends with a hint naming
    /// [`INFER_FOREIGN_KEYS_HINT`]'s option.
    ///
    /// ```
    /// # use bulkinup::{Summary, Verb};
    /// let mut s = Summary::new(Verb::Insert);
    /// s.root = "Author".into();
    /// s.written = 1;
    /// s.skipped = 1;
    /// s.skipped_keys = vec![serde_json::json!(2)];
    /// assert_eq!(s.skipped_line().unwrap(), "insert Author: skipped 1 of 2 items as invalid; primary keys: [2]");
    /// s.skipped_for_missing_foreign_key = 1;
    /// assert!(s.skipped_line().unwrap().ends_with(bulkinup::INFER_FOREIGN_KEYS_HINT));
    /// ```
    pub fn skipped_line(&self) -> Option<String> {
        if self.skipped == 0 {
            return None;
        }
        let total = self.read();
        let keys = listed_keys(self.skipped, &self.skipped_keys);
        let hint = match self.skipped_for_missing_foreign_key * 2 > self.skipped {
            true => format!("; {INFER_FOREIGN_KEYS_HINT}"),
            false => String::new(),
        };
        Some(format!(
            "{} {}: skipped {} of {total} items as invalid; {keys}{hint}",
            self.verb, self.root, self.skipped,
        ))
    }

    /// The top-level items the call read: written, skipped and rejected.
    pub fn read(&self) -> u64 {
        self.written + self.skipped + self.rejected
    }

    /// The one line that reports the items the database refused and that were set aside
    /// (`on_error` = `reject`), or `None` when there were none.
    ///
    /// ```
    /// # use bulkinup::{Summary, Verb};
    /// let mut s = Summary::new(Verb::Upsert);
    /// s.root = "Author".into();
    /// s.written = 997;
    /// s.rejected = 3;
    /// s.rejected_keys = vec![serde_json::json!(4), serde_json::json!(9), serde_json::json!(12)];
    /// assert_eq!(
    ///     s.rejected_line().unwrap(),
    ///     "upsert Author: rejected 3 of 1000 items refused by the database; primary keys: [4,9,12]"
    /// );
    /// ```
    pub fn rejected_line(&self) -> Option<String> {
        if self.rejected == 0 {
            return None;
        }
        Some(format!(
            "{} {}: rejected {} of {} items refused by the database; {}",
            self.verb,
            self.root,
            self.rejected,
            self.read(),
            listed_keys(self.rejected, &self.rejected_keys)
        ))
    }

    /// The summary as the CLI prints it: `{"upserted":2,"skipped":0,"rows":{"authors":2}}`
    /// (`inserted` for an insert; `"recovered": N` is added when items were recovered, and
    /// `"rejected": N` when the database refused items that were set aside).
    pub fn to_json(&self) -> J {
        let verb = match self.verb {
            Verb::Upsert => "upserted",
            Verb::Insert => "inserted",
        };
        let mut out = json!({ verb: self.written, "skipped": self.skipped, "rows": self.rows });
        if self.recovered > 0 {
            out["recovered"] = json!(self.recovered);
        }
        if self.rejected > 0 {
            out["rejected"] = json!(self.rejected);
        }
        if self.other_shards > 0 {
            out["other_shards"] = json!(self.other_shards);
        }
        out
    }
}

/// `primary keys: [1,2]` of `count` items whose first keys are `keys`, `first N primary
/// keys: […]` when not all of them are listed.
fn listed_keys(count: u64, keys: &[J]) -> String {
    let more = match count as usize > keys.len() {
        true => format!("first {} ", keys.len()),
        false => String::new(),
    };
    format!("{more}primary keys: {}", J::from(keys.to_vec()))
}

/// Serializes as the CLI prints it, keys in this order: `upserted`/`inserted`, `skipped`,
/// `recovered` (only when items were recovered), `rejected` (only when the database refused
/// items, with `on_error` = `reject`), `other_shards` (only when a sharded call left items to
/// the other parts), `rows` (table → rows, sorted by table).
///
/// ```
/// # use bulkinup::{Summary, Verb};
/// let s: Summary = Summary::new(Verb::Upsert);
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"upserted":0,"skipped":0,"rows":{}}"#);
/// ```
impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        let verb = match self.verb {
            Verb::Upsert => "upserted",
            Verb::Insert => "inserted",
        };
        map.serialize_entry(verb, &self.written)?;
        map.serialize_entry("skipped", &self.skipped)?;
        if self.recovered > 0 {
            map.serialize_entry("recovered", &self.recovered)?;
        }
        if self.rejected > 0 {
            map.serialize_entry("rejected", &self.rejected)?;
        }
        if self.other_shards > 0 {
            map.serialize_entry("other_shards", &self.other_shards)?;
        }
        map.serialize_entry("rows", &self.rows)?;
        map.end()
    }
}

/// Collects the skipped items of a call for the one warning it logs.
#[derive(Debug, Default)]
pub(crate) struct SkippedReport {
    keys: Vec<J>,
}

impl SkippedReport {
    /// Records one skipped item: its key for the summary, its errors at debug level.
    pub(crate) fn record(&mut self, cs: &Changeset, item: &Item) {
        if self.keys.len() < SKIPPED_KEYS_LISTED {
            self.keys.push(cs.primary_key_json());
        }
        tracing::debug!(
            schema = cs.schema_name(),
            primary_key = %cs.primary_key_json(),
            origin = ?item.origin,
            errors = %cs.errors_json(),
            "skipped invalid item"
        );
    }

    /// Puts the first keys into the summary and logs the one warning of the call, if
    /// anything was skipped.
    pub(crate) fn finish(&self, summary: &mut Summary) {
        summary.skipped_keys = self.keys.clone();
        if let Some(line) = summary.skipped_line() {
            tracing::warn!(
                verb = %summary.verb,
                root = %summary.root,
                skipped = summary.skipped,
                total = summary.written + summary.skipped,
                first_primary_keys = %J::Array(self.keys.clone()),
                "{line}"
            );
        }
    }
}
