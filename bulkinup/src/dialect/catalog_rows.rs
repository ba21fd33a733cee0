//! The rows of the dialects' catalog queries, decoded: each database spells a catalog value
//! its own way (text, numbers, booleans), and the catalog reader and the MySQL/MariaDB
//! unique-key guard read them the same way.

use std::collections::BTreeMap;

use serde_json::{Map, Value as J};

/// A unique key (or the primary key) of a table, as [`Dialect::catalog_unique_keys_sql`](super::Dialect::catalog_unique_keys_sql)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UniqueKey {
    /// The index's or constraint's name (MySQL/MariaDB: `PRIMARY` for the primary key).
    pub(crate) name: String,
    /// Its columns in key order; `None` for an expression.
    pub(crate) columns: Vec<Option<String>>,
}

/// The unique keys of the rows of [`Dialect::catalog_unique_keys_sql`](super::Dialect::catalog_unique_keys_sql), by table, each
/// table's keys in the catalog's order (by key name), each key's columns by position.
pub(crate) fn unique_keys(rows: &[Map<String, J>]) -> BTreeMap<String, Vec<UniqueKey>> {
    type KeyColumns = Vec<(i64, Option<String>)>;
    let mut keys: BTreeMap<(String, String), KeyColumns> = BTreeMap::new();
    for row in rows {
        let (Some(table), Some(key)) = (text(row, "table_name"), text(row, "key_name")) else {
            continue;
        };
        keys.entry((table, key))
            .or_default()
            .push((int(row, "position"), text(row, "column_name")));
    }
    let mut by_table: BTreeMap<String, Vec<UniqueKey>> = BTreeMap::new();
    for ((table, name), mut cols) in keys {
        cols.sort();
        by_table.entry(table).or_default().push(UniqueKey {
            name,
            columns: cols.into_iter().map(|(_, c)| c).collect(),
        });
    }
    by_table
}

/// A catalog value as text (numbers and booleans spelled out), `None` for `NULL`/absent.
pub(crate) fn text(row: &Map<String, J>, key: &str) -> Option<String> {
    match row.get(key)? {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A catalog flag: `true`, a non-zero number, or `1`/`t`/`true`/`yes` text.
pub(crate) fn flag(row: &Map<String, J>, key: &str) -> bool {
    match row.get(key) {
        Some(J::Bool(b)) => *b,
        Some(J::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(J::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "1" | "t" | "true" | "yes" | "y"
        ),
        _ => false,
    }
}

/// A catalog integer (0 when absent or not a number).
pub(crate) fn int(row: &Map<String, J>, key: &str) -> i64 {
    match row.get(key) {
        Some(J::Number(n)) => n.as_i64().unwrap_or(0),
        Some(J::String(s)) => s.trim().parse().unwrap_or(0),
        Some(J::Bool(b)) => i64::from(*b),
        _ => 0,
    }
}
