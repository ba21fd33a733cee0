//! Unique keys besides the conflict target, where the conflict clause fires on any unique key
//! (MySQL/MariaDB's `ON DUPLICATE KEY UPDATE`): a row that collides with a different row
//! through such a key must be a unique violation, as on PostgreSQL and SQLite, never an
//! update of that other row.
//!
//! The unique keys are read from the catalog ([`Dialect::catalog_unique_keys_sql`]) once per
//! call and prefix, on the transaction's connection, the first time a batch with a conflict
//! clause is written there. Only the statements of a table with a unique key besides the
//! batch's conflict target are [guarded](Dialect::guarded_on_conflict_sql); the others are
//! rendered as before. When a guard fails, [`UniqueKeys::explain`] finds the key and the
//! rows that collided (a `SELECT` of the rows having the input rows' values of each other
//! key, and the input rows among themselves) and returns the unique violation naming them.
//! The call's `any_unique_key` option turns all of this off.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use sqlx::{Database, Executor, Transaction};

use super::deadline::Deadline;
use crate::changeset::cast_value;
use crate::dialect::catalog_rows::{UniqueKey, unique_keys};
use crate::dialect::{Backend, Dialect, fetch_json_with, trusted_sql};
use crate::error::{DbErrorKind, Error, Result};
use crate::plan::{Batch, Key, OnConflict, key_of};
use crate::schema::Value;

/// A table's unique keys by table name, as the catalog of one prefix reports them.
type PrefixKeys = BTreeMap<String, Vec<UniqueKey>>;

/// The unique keys of the tables a call writes, read once per prefix and shared by the
/// call's transactions (every chunk's, with `max_concurrency`).
#[derive(Debug, Default)]
pub(crate) struct UniqueKeys {
    /// Whether statements are guarded at all: the dialect's conflict clause fires on any
    /// key, and the call did not ask for that behaviour (`any_unique_key`).
    active: bool,
    /// Prefix (`None`: the connection's database) → its tables' unique keys.
    read: Mutex<HashMap<Option<String>, Arc<PrefixKeys>>>,
}

impl UniqueKeys {
    /// The unique keys of a call on `dialect`; `any_unique_key` keeps the dialect's own
    /// behaviour (no guard, no catalog read).
    pub(crate) fn new(dialect: &dyn Dialect, any_unique_key: bool) -> Self {
        UniqueKeys {
            active: dialect.conflict_fires_on_any_key() && !any_unique_key,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// The unique keys of `batch`'s table besides its conflict target when its statements
    /// must be guarded; `None` when they need no guard (no conflict clause, no other key,
    /// a dialect whose clause names its target, or `any_unique_key`).
    pub(super) async fn others<B>(
        &self,
        tx: &mut Transaction<'_, B::DB>,
        dialect: &B,
        deadline: &Deadline,
        batch: &Batch,
    ) -> Result<Option<Vec<UniqueKey>>>
    where
        B: Backend,
        for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
        <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    {
        let target = match &*batch.on_conflict {
            OnConflict::Raise => return Ok(None),
            OnConflict::Nothing { target } | OnConflict::Update { target, .. } => target,
        };
        if !self.active || target.is_empty() {
            return Ok(None);
        }
        let keys = self.prefix_keys::<B>(tx, dialect, deadline, batch).await?;
        let Some(table_keys) = keys.get(&batch.table).or_else(|| {
            keys.iter()
                .find(|(name, _)| dialect.catalog_name_matches(name, &batch.table, true))
                .map(|(_, k)| k)
        }) else {
            return Ok(None);
        };
        let is_target = |key: &UniqueKey| {
            key.columns.len() == target.len()
                && key.columns.iter().all(|c| {
                    c.as_ref().is_some_and(|c| {
                        target
                            .iter()
                            .any(|t| dialect.catalog_name_matches(c, t, false))
                    })
                })
        };
        let others: Vec<UniqueKey> = table_keys
            .iter()
            .filter(|k| !is_target(k))
            .cloned()
            .collect();
        Ok((!others.is_empty()).then_some(others))
    }

    /// The catalog's unique keys of `batch`'s prefix, read on the transaction's connection
    /// (bounded like a statement of the call) the first
    /// time.
    async fn prefix_keys<B>(
        &self,
        tx: &mut Transaction<'_, B::DB>,
        dialect: &B,
        deadline: &Deadline,
        batch: &Batch,
    ) -> Result<Arc<PrefixKeys>>
    where
        B: Backend,
        for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
        <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    {
        let prefix = &batch.prefix;
        if let Some(keys) = self.lock().get(prefix) {
            return Ok(Arc::clone(keys));
        }
        let query = dialect.catalog_unique_keys_sql(prefix.as_deref());
        let params = vec![prefix.as_deref(); query.prefix_params];
        let read = fetch_json_with::<B, _>(&mut **tx, &query.sql, &params);
        let rows = deadline
            .bounded(dialect, Some(&batch.display_name()), read)
            .await?;
        let keys = Arc::new(unique_keys(&rows));
        self.lock().insert(prefix.clone(), Arc::clone(&keys));
        Ok(keys)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<String>, Arc<PrefixKeys>>> {
        // A panic while the map was held leaves it whole (inserts are single calls).
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `error`, the failure of a statement of `batch` writing `rows`: when it is a failed
    /// guard, the unique violation naming the key of `others` (and the rows) it came from;
    /// anything else unchanged. The statement failed as a whole, so the table is as it was
    /// before it: the rows it collided with are found with a `SELECT` on the same
    /// transaction.
    pub(super) async fn explain<B>(
        tx: &mut Transaction<'_, B::DB>,
        dialect: &B,
        deadline: &Deadline,
        batch: &Batch,
        rows: &[Vec<Value>],
        others: &[UniqueKey],
        error: Error,
    ) -> Error
    where
        B: Backend,
        for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
        <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    {
        let guard_failed = matches!(
            &error,
            Error::Database { code: Some(code), .. } if dialect.is_guard_failure(code)
        );
        if !guard_failed {
            return error;
        }
        let Error::Database {
            table,
            code,
            source,
            item,
            ..
        } = error
        else {
            return error;
        };
        let target = match &*batch.on_conflict {
            OnConflict::Nothing { target } | OnConflict::Update { target, .. } => target.clone(),
            OnConflict::Raise => Vec::new(),
        };
        let found = match find_collision(tx, dialect, deadline, batch, rows, others, &target).await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "finding the collision of a failed guard failed");
                None
            }
        };
        let (constraint, what) = match (found, others) {
            (Some((key, what)), _) => (Some(key.name.clone()), what),
            (None, [key]) => (
                Some(key.name.clone()),
                format!("a row collides with another row through {}", describe(key)),
            ),
            (None, keys) => (
                None,
                format!(
                    "a row collides with another row through one of the unique keys {}",
                    keys.iter().map(describe).collect::<Vec<_>>().join(", ")
                ),
            ),
        };
        let message = format!(
            "duplicate entry: {what}; an upsert updates only the row its conflict target ({}) \
             matches (option `any_unique_key`, flag `--any-unique-key`: MySQL's update of \
             whichever row a unique key matches)",
            target.join(", ")
        );
        Error::Database {
            table,
            kind: DbErrorKind::UniqueViolation,
            code,
            constraint,
            message,
            detail: None,
            hint: None,
            item,
            source,
        }
    }
}

/// `unique key `name` (a, b)`.
fn describe(key: &UniqueKey) -> String {
    let cols: Vec<&str> = key
        .columns
        .iter()
        .map(|c| c.as_deref().unwrap_or("<expression>"))
        .collect();
    format!("unique key `{}` ({})", key.name, cols.join(", "))
}

/// Whether two rows have the same values in `cols`, none of them `NULL` (a `NULL` is never
/// the same).
fn same_values(a: &[Value], b: &[Value], cols: &[usize]) -> bool {
    key_of(a, cols).is_some_and(|k| key_of(b, cols) == Some(k))
}

/// `a = 1, b = "x"` of a row's values in columns `cols`.
fn values_text(batch: &Batch, row: &[Value], cols: &[usize]) -> String {
    let mut out = String::new();
    for (i, &c) in cols.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} = {}", batch.columns[c].name, row[c].to_json());
    }
    out
}

/// The first key of `others` through which one of `rows` collides with a row it does not
/// match by `target`, and what collided: an existing row, or another of `rows` (the same
/// statement). `None` when none is found (e.g. values the database's collation takes as
/// equal but which differ here).
async fn find_collision<'k, B>(
    tx: &mut Transaction<'_, B::DB>,
    dialect: &B,
    deadline: &Deadline,
    batch: &Batch,
    rows: &[Vec<Value>],
    others: &'k [UniqueKey],
    target: &[String],
) -> Result<Option<(&'k UniqueKey, String)>>
where
    B: Backend,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
{
    let column = |name: &str| {
        batch
            .columns
            .iter()
            .position(|c| dialect.catalog_name_matches(name, &c.name, false))
    };
    let Some(target_cols) = target.iter().map(|t| column(t)).collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    let table = batch.display_name();
    for key in others {
        // A key on an expression, or on a column the batch does not write, cannot be
        // compared here.
        let Some(key_cols) = key
            .columns
            .iter()
            .map(|c| c.as_deref().and_then(column))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        // Rows with a NULL in the key never collide through it.
        let mut candidates: Vec<(&Vec<Value>, Key)> = Vec::new();
        let mut by_key: HashMap<Key, &Vec<Value>> = HashMap::new();
        for row in rows {
            let Some(k) = key_of(row, &key_cols) else {
                continue;
            };
            // Two rows of the statement with the same key but different targets.
            if let Some(earlier) = by_key.get(&k) {
                if !same_values(earlier, row, &target_cols) {
                    return Ok(Some((
                        key,
                        format!(
                            "the rows with {} and with {} both have {} of {}",
                            values_text(batch, earlier, &target_cols),
                            values_text(batch, row, &target_cols),
                            values_text(batch, row, &key_cols),
                            describe(key)
                        ),
                    )));
                }
                continue;
            }
            by_key.insert(k.clone(), row);
            candidates.push((row, k));
        }
        // The existing rows with the candidates' values of the key.
        let names: Vec<&str> = target_cols
            .iter()
            .chain(&key_cols)
            .map(|&c| batch.columns[c].name.as_str())
            .collect();
        let key_names: Vec<&str> = key_cols
            .iter()
            .map(|&c| batch.columns[c].name.as_str())
            .collect();
        let per = (dialect.bind_limit() / key_cols.len().max(1)).max(1);
        for part in candidates.chunks(per) {
            let sql = dialect.rows_by_key_sql(batch.table_name(), &names, &key_names, part.len());
            let mut args = <B::DB as Database>::Arguments::default();
            for (row, _) in part {
                for &c in &key_cols {
                    B::bind(&mut args, &row[c], &batch.columns[c].ty)
                        .map_err(|e| Error::encode(&table, e))?;
                }
            }
            let query = sqlx::query_with(trusted_sql(sql), args).fetch_all(&mut **tx);
            let found = deadline.statement(dialect, Some(&table), query).await?;
            for found in &found {
                // The existing row in the batch's columns, its values cast to the columns'
                // types as the input's are.
                let mut existing = vec![Value::Null; batch.columns.len()];
                for (i, &c) in target_cols.iter().chain(&key_cols).enumerate() {
                    existing[c] = cast_value(&batch.columns[c].ty, &B::column_json(found, i))
                        .unwrap_or(Value::Null);
                }
                let Some(row) = key_of(&existing, &key_cols).and_then(|k| by_key.get(&k)) else {
                    continue;
                };
                if !same_values(row, &existing, &target_cols) {
                    return Ok(Some((
                        key,
                        format!(
                            "the row with {} has {} of {}, as the existing row with {} has",
                            values_text(batch, row, &target_cols),
                            values_text(batch, row, &key_cols),
                            describe(key),
                            values_text(batch, &existing, &target_cols),
                        ),
                    )));
                }
            }
        }
    }
    Ok(None)
}
