//! The live database catalog: schema inference ([`infer`]) and schema checks ([`check`]).
//! Schema inference from the items themselves ([`infer_from_data`]) lives beside the
//! catalog's, sharing its naming and its rendering of schema files, and reads no database.
//!
//! Both read the tables of the connection's schema — PostgreSQL's `current_schema()`, the
//! MySQL/MariaDB database `DATABASE()`, SQLite's `main` — or those of a prefix (a PostgreSQL
//! schema, a MySQL/MariaDB database, an attached SQLite database), through three catalog
//! queries each [`Dialect`] provides (columns, unique keys, foreign keys). The queries splice
//! nothing: the prefix is a bound parameter (on SQLite also a quoted schema name); they read
//! the whole schema, and the tables are picked here. A prefix that does not exist is an
//! error, not an empty catalog.
//!
//! ## Time limits
//!
//! [`infer_with`] and [`check_with`] read within the time limits of their [`Options`]
//! (the command line's `--timeout` and `--statement-timeout`): all their queries together
//! within `timeout`, and each one — the check that a prefix exists, the three catalog
//! queries of each place read, the sample of each JSON column — within `min(statement_timeout,
//! what remains of timeout)`, on the client's clock. On PostgreSQL and MySQL/MariaDB each
//! query runs on a connection of its own; one without an answer when its limit passes (plus
//! a grace of a tenth of `statement_timeout`, at most 1 s, when that binds) is abandoned, its
//! connection closed, and the call fails with [`Error::Timeout`] naming the option
//! ([`Waited::Query`]): a server or network that stops answering cannot hang it. The
//! database is not told the limit (the queries only read). SQLite runs in the process and is
//! never abandoned. [`infer`] and [`check`] are the same with [`Options::default()`]: 15 s
//! for all the queries together ([`DEFAULT_TIMEOUT`]), no limit of each query's own.
//!
//! [`Options`]: crate::Options
//! [`Options::default()`]: crate::Options::default
//! [`Error::Timeout`]: crate::Error::Timeout
//! [`Waited::Query`]: crate::Waited::Query
//! [`DEFAULT_TIMEOUT`]: crate::options::DEFAULT_TIMEOUT
//!
//! ## Column types
//!
//! One mapping, from the column's type to a field type, serves both. Inference writes the
//! mapped type; the check accepts a field whenever its values can be written to the column:
//!
//! | column type | inferred field | fields the check accepts |
//! |---|---|---|
//! | any integer (`integer`, `bigint`, `int8`, `serial`, …) | `integer` (`id` for a one-column primary key) | `id`, `integer` |
//! | `numeric`, `decimal` | `decimal` | `decimal`, `float`, `id`, `integer` |
//! | `real`, `float`, `double` | `float` | `float`, `decimal` |
//! | `boolean` (MySQL `tinyint(1)`) | `boolean` | `boolean` |
//! | `text`, `varchar`, `char`, `longtext`, `enum`, … | `string` | `string`, `binary_id`, `decimal`, `map`, `array:*`, embeds, dates and times (stored as text) |
//! | `uuid` | `binary_id` | `binary_id` |
//! | `json`, `jsonb` (MariaDB: `LONGTEXT` with a `json_valid` check) | `map` | `map`, `array:*`, embeds |
//! | `date` / `time` | `date` / `time` | the same |
//! | `timestamp`, `datetime` | `naive_datetime_usec` | any datetime type |
//! | `timestamptz` | `utc_datetime_usec` | any datetime type |
//! | `bytea`, `blob`, `varbinary` | `binary` | `binary` |
//! | PostgreSQL arrays (`int8[]`) | `array:integer` | arrays of a matching type |
//!
//! SQLite columns map by their declared type name when it is one of the above (`BOOLEAN`,
//! `DATETIME`, `JSON`, …), otherwise by SQLite's affinity rules. A column type that maps to
//! nothing (a PostgreSQL enum, a SQLite column without a type) is inferred as `string` with a
//! comment, and accepted by the check whatever the field's type.

mod check;
mod infer;

use std::collections::BTreeMap;

use serde_json::{Map, Value as J};

pub use check::{Mismatch, check, check_with};
pub use infer::{
    MANY_CODE_KEYS, MAX_CODE_LEN, MAX_CODE_PART, MAX_KEY_CANDIDATES, infer, infer_from_data,
    infer_with,
};

use crate::db::Db;
use crate::dialect::catalog_rows::{flag, int, text, unique_keys};
use crate::dialect::{CatalogQuery, Dialect};
use crate::error::Result;
use crate::execute::Deadline;
use crate::schema::FieldType;

/// The tables of one schema (the connection's, or a prefix), as the catalog queries report
/// them.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// By table name.
    pub(crate) tables: BTreeMap<String, Table>,
}

/// One table of the catalog.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) name: String,
    /// In column order.
    pub(crate) columns: Vec<Column>,
    /// The primary-key columns, in key order (empty for none).
    pub(crate) primary_key: Vec<String>,
    /// Every key that can be a conflict target (the primary key included), each as its
    /// columns in key order.
    pub(crate) unique_keys: Vec<Vec<String>>,
    /// The foreign keys, in constraint order.
    pub(crate) foreign_keys: Vec<ForeignKey>,
}

/// One column of a table.
#[derive(Debug)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// The full declared type, for messages.
    pub(crate) column_type: String,
    pub(crate) not_null: bool,
    pub(crate) has_default: bool,
    /// The database generates its values (identity, serial, auto-increment, rowid alias).
    pub(crate) identity: bool,
    /// A computed column: it cannot be written.
    pub(crate) generated: bool,
    /// The field type its values map to, when one does.
    pub(crate) field_type: Option<FieldType>,
}

/// A foreign key of a table.
#[derive(Debug)]
pub(crate) struct ForeignKey {
    pub(crate) columns: Vec<String>,
    pub(crate) ref_table: String,
    /// The referenced columns, one per column (resolved to the referenced primary key where
    /// the catalog leaves them out).
    pub(crate) ref_columns: Vec<String>,
}

impl Catalog {
    /// Reads the catalog of `prefix` (a PostgreSQL schema, MySQL/MariaDB database or attached
    /// SQLite database), else of the connection's schema, each query (the prefix's check
    /// too) bounded by `deadline`. `owner` is the schema whose own `prefix` it is, for the
    /// error when it does not exist (`None`: the caller's option).
    pub(crate) async fn read(
        db: &Db,
        prefix: Option<&str>,
        owner: Option<&str>,
        deadline: &Deadline,
    ) -> Result<Catalog> {
        let dialect = db.dialect();
        if let Some(p) = prefix {
            db.check_prefix(p, owner, deadline).await?;
        }
        let fetch = |query: CatalogQuery| async move {
            let params = vec![prefix; query.prefix_params];
            db.fetch_json_with(&query.sql, &params, deadline).await
        };
        let columns = fetch(dialect.catalog_columns_sql(prefix)).await?;
        let unique = fetch(dialect.catalog_unique_keys_sql(prefix)).await?;
        let foreign = fetch(dialect.catalog_foreign_keys_sql(prefix)).await?;
        Ok(Catalog::from_rows(dialect, &columns, &unique, &foreign))
    }

    fn from_rows(
        dialect: &dyn Dialect,
        columns: &[Map<String, J>],
        unique: &[Map<String, J>],
        foreign: &[Map<String, J>],
    ) -> Catalog {
        let mut catalog = Catalog::default();
        let mut pk_positions: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for row in columns {
            let (Some(table), Some(name)) = (text(row, "table_name"), text(row, "column_name"))
            else {
                continue;
            };
            let data_type = text(row, "data_type").unwrap_or_default();
            let column_type = text(row, "column_type").unwrap_or_else(|| data_type.clone());
            let pk_position = int(row, "pk_position");
            if pk_position > 0 {
                pk_positions
                    .entry(table.clone())
                    .or_default()
                    .push((pk_position, name.clone()));
            }
            let t = catalog
                .tables
                .entry(table.clone())
                .or_insert_with(|| Table {
                    name: table,
                    ..Table::default()
                });
            t.columns.push(Column {
                field_type: dialect.column_field_type(&data_type, &column_type),
                name,
                column_type,
                not_null: flag(row, "not_null"),
                has_default: flag(row, "has_default"),
                identity: flag(row, "is_identity"),
                generated: flag(row, "is_generated"),
            });
        }
        for (table, mut positions) in pk_positions {
            positions.sort();
            if let Some(t) = catalog.tables.get_mut(&table) {
                t.primary_key = positions.into_iter().map(|(_, c)| c).collect();
            }
        }

        // A key with an expression column (no name) cannot be a conflict target on columns.
        for (table, keys) in unique_keys(unique) {
            let Some(t) = catalog.tables.get_mut(&table) else {
                continue;
            };
            for key in keys {
                let Some(cols) = key.columns.into_iter().collect::<Option<Vec<_>>>() else {
                    continue;
                };
                if !cols.is_empty() && !t.unique_keys.contains(&cols) {
                    t.unique_keys.push(cols);
                }
            }
        }
        for t in catalog.tables.values_mut() {
            if !t.primary_key.is_empty() && !t.unique_keys.contains(&t.primary_key) {
                t.unique_keys.insert(0, t.primary_key.clone());
            }
        }

        // Foreign keys: (table, constraint) → (position, column, ref table, ref column).
        type FkRow = (i64, String, String, Option<String>);
        let mut fks: BTreeMap<(String, String), Vec<FkRow>> = BTreeMap::new();
        for row in foreign {
            let (Some(table), Some(name), Some(column), Some(ref_table)) = (
                text(row, "table_name"),
                text(row, "constraint_name"),
                text(row, "column_name"),
                text(row, "ref_table"),
            ) else {
                continue;
            };
            fks.entry((table, name)).or_default().push((
                int(row, "position"),
                column,
                ref_table,
                text(row, "ref_column"),
            ));
        }
        for ((table, _), mut rows) in fks {
            rows.sort();
            let Some(ref_table) = rows.first().map(|r| r.2.clone()) else {
                continue;
            };
            if rows.iter().any(|r| r.2 != ref_table) {
                continue;
            }
            let columns: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
            let ref_columns: Vec<String> = if rows.iter().all(|r| r.3.is_some()) {
                rows.into_iter().filter_map(|r| r.3).collect()
            } else {
                // SQLite `REFERENCES t` without columns: the referenced primary key.
                match catalog.tables.get(&ref_table) {
                    Some(r) if r.primary_key.len() == columns.len() => r.primary_key.clone(),
                    _ => continue,
                }
            };
            if let Some(t) = catalog.tables.get_mut(&table) {
                t.foreign_keys.push(ForeignKey {
                    columns,
                    ref_table,
                    ref_columns,
                });
            }
        }
        catalog
    }

    /// The table the database resolves `name` to: the exact name, or one the dialect
    /// matches (SQLite ignores case).
    pub(crate) fn table(&self, dialect: &dyn Dialect, name: &str) -> Option<&Table> {
        self.tables.get(name).or_else(|| {
            self.tables
                .values()
                .find(|t| dialect.catalog_name_matches(&t.name, name, true))
        })
    }
}

impl Table {
    /// The column the database resolves `name` to (MySQL and SQLite ignore case).
    pub(crate) fn column(&self, dialect: &dyn Dialect, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| dialect.catalog_name_matches(&c.name, name, false))
        })
    }

    /// Whether a primary key or unique index covers exactly these columns (in any order).
    pub(crate) fn has_unique_key_on(&self, columns: &[&str]) -> bool {
        self.unique_keys.iter().any(|key| {
            key.len() == columns.len() && columns.iter().all(|c| key.iter().any(|k| k == c))
        })
    }
}
