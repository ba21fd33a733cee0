//! The result of a call, and the once-per-call report of skipped items.

use std::collections::BTreeMap;

use serde_json::{Value as J, json};

use crate::changeset::Changeset;
use crate::item::Item;
use crate::options::Verb;

/// How many primary keys of skipped items the warning lists.
pub const SKIPPED_KEYS_LISTED: usize = 50;

/// What a call wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The verb.
    pub verb: Verb,
    /// Valid top-level items sent to the database, duplicates included.
    pub written: u64,
    /// Top-level items skipped as invalid.
    pub skipped: u64,
    /// Top-level items that were invalid and recovered with `recover_changeset_errors`
    /// (they are counted in `written` too).
    pub recovered: u64,
    /// Rows sent to each table after de-duplication, join tables included.
    pub rows: BTreeMap<String, u64>,
    /// Statements sent to each table (not part of the JSON summary).
    pub statements: BTreeMap<String, u64>,
}

impl Summary {
    /// An empty summary for `verb`.
    pub fn new(verb: Verb) -> Self {
        Summary {
            verb,
            written: 0,
            skipped: 0,
            recovered: 0,
            rows: BTreeMap::new(),
            statements: BTreeMap::new(),
        }
    }

    /// The summary as the CLI prints it: `{"upserted":2,"skipped":0,"rows":{"authors":2}}`
    /// (`inserted` for an insert; `"recovered": N` is added when items were recovered).
    pub fn to_json(&self) -> J {
        let verb = match self.verb {
            Verb::Upsert => "upserted",
            Verb::Insert => "inserted",
        };
        let mut out = json!({ verb: self.written, "skipped": self.skipped, "rows": self.rows });
        if self.recovered > 0 {
            out["recovered"] = json!(self.recovered);
        }
        out
    }
}

/// Serializes as the CLI prints it, keys in this order: `upserted`/`inserted`, `skipped`,
/// `recovered` (only when items were recovered), `rows` (table → rows, sorted by table).
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

    /// Logs the one warning of the call, if anything was skipped.
    pub(crate) fn warn(&self, summary: &Summary) {
        if summary.skipped > 0 {
            tracing::warn!(
                skipped = summary.skipped,
                total = summary.written + summary.skipped,
                first_primary_keys = %J::Array(self.keys.clone()),
                "skipped {} of {} items (invalid); first primary keys: {}",
                summary.skipped,
                summary.written + summary.skipped,
                J::Array(self.keys.clone())
            );
        }
    }
}
