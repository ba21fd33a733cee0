//! The writer: renders each batch's statements through the dialect (caching one SQL text per
//! statement shape and row count), binds the rows, runs the statements and counts them.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use sqlx::{Arguments, Connection, Database, Executor, Transaction};

use super::deadline::Deadline;
use super::isolate::refuses_row;
use super::unique::UniqueKeys;
use crate::dialect::{Backend, Columnar, CopyPlan, TableName, trusted_sql};
use crate::error::{Error, Result};
use crate::options::{ResolvedOptions, WriteContext};
use crate::plan::{Batch, Column, OnConflict};
use crate::schema::{FieldType, Value};
use crate::summary::Summary;

/// How many rows of `ncols` columns one statement may carry.
pub(crate) fn rows_per_statement(chunk_size: usize, bind_limit: usize, ncols: usize) -> usize {
    chunk_size.min(bind_limit / ncols.max(1)).max(1)
}

/// Rows and statements written, per table.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    rows: BTreeMap<String, u64>,
    statements: BTreeMap<String, u64>,
}

impl Counts {
    /// Adds these counts to the summary's.
    pub(super) fn add_to(self, summary: &mut Summary) {
        for (t, n) in self.rows {
            *summary.rows.entry(t).or_insert(0) += n;
        }
        for (t, n) in self.statements {
            *summary.statements.entry(t).or_insert(0) += n;
        }
    }

    /// Counts `n` rows written to `table`.
    pub(super) fn add_rows(&mut self, table: String, n: usize) {
        *self.rows.entry(table).or_insert(0) += n as u64;
    }
}

/// A statement's shape: the table (prefix, name), each column with its type and whether it
/// is bound once for every row, and the conflict clause.
type ShapeKey = (
    (Option<String>, String),
    Vec<(String, FieldType, bool)>,
    OnConflict,
);

/// How an upsert's next batch of one shape goes through the bulk loader
/// ([`Writer::copy_upsert`]), learnt from the shape's batches before it in the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// A probe, then `COPY` of the new rows and the conflict clause for the existing ones:
    /// the first batch, after a batch where some rows existed, after a refused `COPY`, and
    /// after a run of [`Route::Conflict`]. `run`: how many batches go straight to the
    /// conflict clause if this probe finds most rows existing.
    Probe { run: u32 },
    /// `COPY` of every row, no probe: the last probe found no row existing.
    Copy,
    /// Straight to the conflict clause for `left` more batches, then a probe with `run`:
    /// after a probe that found most rows existing, where `COPY` would save little.
    Conflict { left: u32, run: u32 },
}

impl Route {
    /// The first batch of a shape.
    const FIRST: Route = Route::Probe { run: CONFLICT_RUN };

    /// After a probe with `run` that found most rows existing: `run` batches straight to the
    /// conflict clause, the next such run twice as long (up to [`CONFLICT_RUN_MAX`]).
    fn most_existed(run: u32) -> Route {
        Route::Conflict {
            left: run,
            run: (run * 2).min(CONFLICT_RUN_MAX),
        }
    }
}

/// What a probe of a batch's conflict target needs: the probe statement, the target's
/// columns (none shared), and their positions among the batch's columns.
struct KeyProbe {
    sql: Arc<str>,
    columns: Vec<Column>,
    positions: Vec<usize>,
}

/// How many batches of a shape go straight to the conflict clause after the first probe that
/// found most of a batch's rows existing; each further such probe doubles it, up to
/// [`CONFLICT_RUN_MAX`], so that a load over existing rows probes a handful of times per
/// table, whatever its size.
const CONFLICT_RUN: u32 = 15;

/// The longest run of batches straight to the conflict clause.
const CONFLICT_RUN_MAX: u32 = 240;

/// A batch of more rows than this is probed first for this many of them, evenly spaced: none
/// existing, all its rows go to `COPY`; more than half, the batch (and a run after it) goes
/// straight to the conflict clause; else every row is probed. A probe costs about as much per
/// row as the conflict clause's update of it, so probing a whole batch only to learn that it
/// all exists would double the work.
const PROBE_SAMPLE: usize = 64;

/// Writes batches, caching one SQL text per statement shape and row count.
pub(crate) struct Writer<B: Backend> {
    pub(super) dialect: B,
    pub(super) resolved: Arc<ResolvedOptions>,
    /// Statement shape (table, columns, shared flags, conflict clause) → row count → SQL.
    sql: HashMap<ShapeKey, HashMap<usize, Arc<str>>>,
    /// Statement shape → the backend's columnar statement, if it has one.
    columnar: HashMap<ShapeKey, Option<Arc<str>>>,
    /// Statement shape → the backend's bulk-load plan, if it has one for the table.
    copy: HashMap<ShapeKey, Option<Arc<CopyPlan>>>,
    /// Statement shape (of an upsert) → the backend's probe of its conflict target, if any.
    probe: HashMap<ShapeKey, Option<Arc<str>>>,
    /// Statement shape (of an upsert) → how its next batch goes through the bulk loader.
    routes: HashMap<ShapeKey, Route>,
    pub(super) counts: Counts,
    pub(super) deadline: Deadline,
    /// The call's unique keys besides the conflict targets (MySQL/MariaDB).
    pub(super) unique: Arc<UniqueKeys>,
}

impl<B: Backend> Writer<B>
where
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    /// A writer of one transaction, bounded by `deadline`, guarding against the call's
    /// `unique` keys.
    pub(crate) fn new(
        resolved: Arc<ResolvedOptions>,
        deadline: Deadline,
        unique: Arc<UniqueKeys>,
    ) -> Self {
        Writer {
            dialect: B::default(),
            resolved,
            sql: HashMap::new(),
            columnar: HashMap::new(),
            copy: HashMap::new(),
            probe: HashMap::new(),
            routes: HashMap::new(),
            counts: Counts::default(),
            deadline,
            unique,
        }
    }

    /// Moves the counts so far into the summary.
    pub(super) fn add_counts(&mut self, summary: &mut Summary) {
        std::mem::take(&mut self.counts).add_to(summary);
    }

    /// Writes a chunk's batches in order, through the writer hook if there is one.
    pub(super) async fn write_all(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        batches: Vec<Batch>,
    ) -> Result<()> {
        // Slots of generated keys are numbered per chunk.
        let mut keys: Vec<Option<Value>> = Vec::new();
        for mut batch in batches {
            for (r, c, slot) in std::mem::take(&mut batch.fixups) {
                let key = keys.get(slot as usize).cloned().flatten().ok_or_else(|| {
                    Error::GeneratedKeyMissing {
                        table: batch.display_name(),
                    }
                })?;
                batch.rows[r][c] = key;
            }
            if let Some(generated) = batch.generated.take() {
                // Rows without their key: written apart, reading the keys back (no writer hook:
                // the rows must stay as planned to match the keys).
                let mut given = Vec::with_capacity(batch.rows.len());
                let mut pending = Vec::new();
                for (row, slot) in std::mem::take(&mut batch.rows)
                    .into_iter()
                    .zip(&generated.slots)
                {
                    match slot {
                        Some(s) => pending.push((row, *s)),
                        None => given.push(row),
                    }
                }
                self.write_returning(tx, &batch, &generated, pending, &mut keys)
                    .await?;
                batch.rows = given;
                if batch.rows.is_empty() {
                    continue;
                }
            }
            match &self.resolved.options.writer {
                None => self.write(tx, &mut batch).await?,
                Some(hook) => {
                    let ctx = WriteContext {
                        verb: self.resolved.verb,
                        timeout: self.resolved.options.timeout,
                        database: self.dialect.name(),
                    };
                    for mut b in (hook.0)(&ctx, batch)? {
                        self.write(tx, &mut b).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes one batch: in one bulk load where the backend has one for it (PostgreSQL's
    /// binary `COPY` of a plain insert, unless turned off, when every value fits its
    /// column's binary form; an upsert's rows that are new, see [`Writer::copy_upsert`]),
    /// else in ⌈rows / per_statement⌉ statements: through the backend's columnar statement
    /// where it has one for these columns, else as multi-row `VALUES`. The batch's rows are
    /// left as they came.
    pub(crate) async fn write(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        batch: &mut Batch,
    ) -> Result<()> {
        if batch.rows.is_empty() {
            return Ok(());
        }
        let reuse = self.dialect.reuses_placeholders();
        let shared: Vec<bool> = batch.columns.iter().map(|c| c.shared && reuse).collect();
        let shape: ShapeKey = (
            (batch.prefix.clone(), batch.table.clone()),
            batch
                .columns
                .iter()
                .zip(&shared)
                .map(|(c, s)| (c.name.clone(), c.ty.clone(), *s))
                .collect(),
            (*batch.on_conflict).clone(),
        );
        let plain = *batch.on_conflict == OnConflict::Raise;
        if let Some(columnar) = B::columnar()
            && self.resolved.bulk_load
            && !plain
            && self.copy_upsert(tx, columnar, &shape, batch).await?
        {
            return Ok(());
        }
        if let Some(columnar) = B::columnar()
            && self.resolved.bulk_load
            && plain
            && let Some(plan) = self
                .copy_for(tx, columnar, &shape, batch, &OnConflict::Raise)
                .await?
        {
            let table = batch.display_name();
            let copy = columnar.copy(&mut **tx, &plan, &batch.columns, &batch.rows);
            if self.statement(&table, copy).await?.is_some() {
                self.count_statement(&table);
                self.counts.add_rows(table, batch.rows.len());
                return Ok(());
            }
            // A value its column's binary form cannot hold (nothing was sent): the columnar
            // statement's casts let the database decide, as without the bulk load.
        }
        if let Some(columnar) = B::columnar()
            && let Some(sql) = self.columnar_for(columnar, &shape, batch)
        {
            self.write_columnar(tx, columnar, &sql, batch).await?;
            self.counts.add_rows(batch.display_name(), batch.rows.len());
            return Ok(());
        }

        let others = self
            .unique
            .others(tx, &self.dialect, &self.deadline, batch)
            .await?;
        let nshared = shared.iter().filter(|s| **s).count();
        let per_row = batch.columns.len() - nshared;
        let per = rows_per_statement(
            self.resolved.options.chunk_size,
            self.dialect.bind_limit() - nshared,
            per_row,
        );
        for rows in batch.rows.chunks(per) {
            let sql = self.sql_for(&shape, rows.len(), others.is_some());
            let mut args = <B::DB as Database>::Arguments::default();
            args.reserve(
                nshared + rows.len() * per_row,
                (nshared + rows.len() * per_row) * 8,
            );
            let bind_err = |e| Error::encode(&batch.display_name(), e);
            for ((value, column), _) in rows[0]
                .iter()
                .zip(batch.columns.iter())
                .zip(&shared)
                .filter(|(_, s)| **s)
            {
                B::bind(&mut args, value, &column.ty).map_err(bind_err)?;
            }
            for row in rows {
                for ((value, column), _) in row
                    .iter()
                    .zip(batch.columns.iter())
                    .zip(&shared)
                    .filter(|(_, s)| !**s)
                {
                    B::bind(&mut args, value, &column.ty).map_err(bind_err)?;
                }
            }
            if let Err(e) = self
                .execute(tx, &sql, args, rows.len() == per, &batch.display_name())
                .await
            {
                return Err(match &others {
                    Some(others) => {
                        UniqueKeys::explain(
                            tx,
                            &self.dialect,
                            &self.deadline,
                            batch,
                            rows,
                            others,
                            e,
                        )
                        .await
                    }
                    None => e,
                });
            }
        }
        self.counts.add_rows(batch.display_name(), batch.rows.len());
        Ok(())
    }

    /// Writes a batch's rows with the columnar statement `sql`, `chunk_size` rows a statement.
    async fn write_columnar(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        columnar: &dyn Columnar<B::DB>,
        sql: &str,
        batch: &Batch,
    ) -> Result<()> {
        for rows in batch.rows.chunks(self.resolved.options.chunk_size) {
            let mut args = <B::DB as Database>::Arguments::default();
            columnar
                .bind(&mut args, &batch.columns, rows)
                .map_err(|e| Error::encode(&batch.display_name(), e))?;
            self.execute(tx, sql, args, true, &batch.display_name())
                .await?;
        }
        Ok(())
    }

    /// Writes an upsert's batch (one with a conflict clause) through the bulk loader, by the
    /// shape's [`Route`]: a probe statement first (the shape's first batch, and whenever
    /// the batch before found rows existing; of a sample of [`PROBE_SAMPLE`] rows first in
    /// a larger batch), that finds the rows whose conflict target is
    /// already in the table, then `COPY` of the others inside a savepoint and the existing
    /// ones by the columnar statement with the batch's conflict clause (`DO UPDATE`; `DO
    /// NOTHING`: not at all, as the statement would leave them as they are); `COPY` of every
    /// row inside a savepoint, with no probe, after a probe found none; or, after a probe
    /// found most rows existing, straight to the columnar statement for a run of batches
    /// ([`CONFLICT_RUN`], doubling with each such probe up to [`CONFLICT_RUN_MAX`]).
    ///
    /// When the server refuses the `COPY` ([`refuses_row`]: a key already in the table, or
    /// another transaction inserted after the probe, a key twice in the batch, any row it
    /// would refuse), the savepoint is rolled back and the whole batch is left to the
    /// columnar statement with its conflict clause, exactly as without the bulk loader: that
    /// statement then updates, skips or reports the row as it always did; the shape's next
    /// batch is probed first.
    ///
    /// `Ok(false)` when the batch goes the usual way (no bulk load for its table, no probe
    /// for its target, the route says so, or the `COPY` was refused), with its rows in their
    /// order.
    async fn copy_upsert(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        columnar: &dyn Columnar<B::DB>,
        shape: &ShapeKey,
        batch: &mut Batch,
    ) -> Result<bool> {
        let route = self.routes.get(shape).copied().unwrap_or(Route::FIRST);
        if let Route::Conflict { left, run } = route {
            let next = if left <= 1 {
                Route::Probe { run }
            } else {
                Route::Conflict {
                    left: left - 1,
                    run,
                }
            };
            self.routes.insert(shape.clone(), next);
            return Ok(false);
        }
        let (target, update) = match &*batch.on_conflict {
            OnConflict::Raise => return Ok(false),
            OnConflict::Nothing { target } => (target, false),
            OnConflict::Update { target, .. } => (target, true),
        };
        let Some(positions) = target
            .iter()
            .map(|t| batch.columns.iter().position(|c| c.name == *t))
            .collect::<Option<Vec<usize>>>()
        else {
            return Ok(false);
        };
        let key_columns: Vec<Column> = positions
            .iter()
            .map(|&i| Column {
                shared: false,
                ..batch.columns[i].clone()
            })
            .collect();
        let Some(upsert) = self.columnar_for(columnar, shape, batch) else {
            return Ok(false);
        };
        let Some(sql) = self.probe_for(columnar, shape, batch, &key_columns) else {
            return Ok(false);
        };
        let probe = KeyProbe {
            sql,
            columns: key_columns,
            positions,
        };
        let Some(copy) = self
            .copy_for(tx, columnar, shape, batch, &OnConflict::Raise)
            .await?
        else {
            return Ok(false);
        };
        let table = batch.display_name();
        let written = batch.rows.len();
        let mut exists = vec![false; written];
        if let Route::Probe { run } = route {
            let mut whole = written <= PROBE_SAMPLE;
            if !whole {
                let sample: Vec<usize> = (0..PROBE_SAMPLE)
                    .map(|i| i * written / PROBE_SAMPLE)
                    .collect();
                let seen = self
                    .probe_rows(tx, columnar, &probe, batch, &sample)
                    .await?;
                let hits = seen.iter().filter(|e| **e).count();
                if 2 * hits > sample.len() {
                    self.routes.insert(shape.clone(), Route::most_existed(run));
                    return Ok(false);
                }
                // None of the sample exists: `COPY` of every row (a refusal falls back).
                whole = hits > 0;
            }
            if whole {
                let all: Vec<usize> = (0..written).collect();
                exists = self.probe_rows(tx, columnar, &probe, batch, &all).await?;
            }
        }
        let found = exists.iter().filter(|e| **e).count();
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for (row, e) in std::mem::take(&mut batch.rows).into_iter().zip(&exists) {
            if *e { old.push(row) } else { new.push(row) }
        }
        if !new.is_empty() {
            self.deadline.check(Some(&table))?;
            let mut savepoint = self.statement(&table, (**tx).begin()).await?;
            let loading = columnar.copy(&mut *savepoint, &copy, &batch.columns, &new);
            let loaded = self.statement(&table, loading).await;
            let refused = match loaded {
                Ok(Some(_)) => {
                    self.count_statement(&table);
                    self.statement(&table, savepoint.commit()).await?;
                    false
                }
                // A value its column's binary form cannot hold: nothing was sent.
                Ok(None) => {
                    self.statement(&table, savepoint.rollback()).await?;
                    true
                }
                Err(e) if refuses_row::<B>(&e) => {
                    self.count_statement(&table);
                    self.statement(&table, savepoint.rollback()).await?;
                    tracing::debug!(
                        table = %table,
                        error = %e,
                        "COPY refused: the batch is written with its conflict clause"
                    );
                    self.routes.insert(shape.clone(), Route::FIRST);
                    true
                }
                Err(e) => return Err(e),
            };
            if refused {
                let (mut new, mut old) = (new.into_iter(), old.into_iter());
                batch.rows = exists
                    .iter()
                    .filter_map(|e| if *e { old.next() } else { new.next() })
                    .collect();
                return Ok(false);
            }
        }
        let next = match route {
            _ if found == 0 => Route::Copy,
            Route::Probe { run } if 2 * found > written => Route::most_existed(run),
            _ => Route::FIRST,
        };
        self.routes.insert(shape.clone(), next);
        if update && !old.is_empty() {
            batch.rows = old;
            let done = self.write_columnar(tx, columnar, &upsert, batch).await;
            batch.rows.append(&mut new);
            done?;
        } else {
            old.append(&mut new);
            batch.rows = old;
        }
        self.counts.add_rows(table, written);
        Ok(true)
    }

    /// Probes the rows `at` (indices into the batch's rows) for their conflict target in the
    /// table with `probe`: whether each of them exists. One statement.
    async fn probe_rows(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        columnar: &dyn Columnar<B::DB>,
        probe: &KeyProbe,
        batch: &Batch,
        at: &[usize],
    ) -> Result<Vec<bool>> {
        let keys: Vec<Vec<Value>> = at
            .iter()
            .map(|&r| {
                probe
                    .positions
                    .iter()
                    .map(|&i| batch.rows[r][i].clone())
                    .collect()
            })
            .collect();
        let table = batch.display_name();
        let probing = columnar.probe(&mut **tx, &probe.sql, &probe.columns, &keys);
        let found = self.statement(&table, probing).await?;
        self.count_statement(&table);
        let mut exists = vec![false; at.len()];
        for p in found {
            if let Some(e) = usize::try_from(p).ok().and_then(|p| exists.get_mut(p)) {
                *e = true;
            }
        }
        Ok(exists)
    }

    /// Runs one statement and counts it.
    async fn execute(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        sql: &str,
        args: <B::DB as Database>::Arguments,
        persistent: bool,
        table: &str,
    ) -> Result<()> {
        let query = sqlx::query_with(trusted_sql(sql), args)
            .persistent(persistent)
            .execute(&mut **tx);
        self.statement(table, query).await?;
        self.count_statement(table);
        Ok(())
    }

    /// Runs one statement writing `table` within the deadline: an error if the call's
    /// timeout has passed before it, a timeout if it does not answer within its bound, the
    /// database's error naming the table if it fails.
    pub(super) async fn statement<T>(
        &self,
        table: &str,
        statement: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        self.deadline.check(Some(table))?;
        self.deadline
            .statement(&self.dialect, Some(table), statement)
            .await
    }

    /// Counts one statement written to `table`.
    pub(super) fn count_statement(&mut self, table: &str) {
        *self.counts.statements.entry(table.to_string()).or_insert(0) += 1;
    }

    /// The columnar statement of a shape (cached, `None` when its columns do not allow one).
    fn columnar_for(
        &mut self,
        columnar: &dyn Columnar<B::DB>,
        shape: &ShapeKey,
        batch: &Batch,
    ) -> Option<Arc<str>> {
        if let Some(sql) = self.columnar.get(shape) {
            return sql.clone();
        }
        let sql: Option<Arc<str>> = columnar
            .sql(batch.table_name(), &batch.columns, &batch.on_conflict)
            .map(Into::into);
        self.columnar.insert(shape.clone(), sql.clone());
        sql
    }

    /// The probe of a shape's conflict target `key_columns` (cached; `None` when the backend
    /// has none for them).
    fn probe_for(
        &mut self,
        columnar: &dyn Columnar<B::DB>,
        shape: &ShapeKey,
        batch: &Batch,
        key_columns: &[Column],
    ) -> Option<Arc<str>> {
        if let Some(sql) = self.probe.get(shape) {
            return sql.clone();
        }
        let sql: Option<Arc<str>> = columnar
            .probe_sql(batch.table_name(), key_columns)
            .map(Into::into);
        self.probe.insert(shape.clone(), sql.clone());
        sql
    }

    /// The bulk-load plan of a shape, for rows written with `on_conflict` (asked of the
    /// database once per shape and call, then cached; `None` when the batch cannot be
    /// loaded that way).
    async fn copy_for(
        &mut self,
        tx: &mut Transaction<'_, B::DB>,
        columnar: &dyn Columnar<B::DB>,
        shape: &ShapeKey,
        batch: &Batch,
        on_conflict: &OnConflict,
    ) -> Result<Option<Arc<CopyPlan>>> {
        if let Some(plan) = self.copy.get(shape) {
            return Ok(plan.clone());
        }
        let table = batch.display_name();
        let asking = columnar.copy_sql(&mut **tx, batch.table_name(), &batch.columns, on_conflict);
        let plan: Option<Arc<CopyPlan>> = self.statement(&table, asking).await?.map(Arc::new);
        self.copy.insert(shape.clone(), plan.clone());
        Ok(plan)
    }

    /// The multi-row `VALUES` statement of a shape and row count (cached), `guard`ed when
    /// its table has a unique key besides the conflict target (which the shape determines).
    fn sql_for(&mut self, shape: &ShapeKey, rows: usize, guard: bool) -> Arc<str> {
        let dialect = &self.dialect;
        let by_rows = match self.sql.get_mut(shape) {
            Some(m) => m,
            None => self.sql.entry(shape.clone()).or_default(),
        };
        Arc::clone(by_rows.entry(rows).or_insert_with(|| {
            let ((prefix, name), columns, on_conflict) = shape;
            let table = TableName {
                prefix: prefix.as_deref(),
                name,
            };
            let cols: Vec<&str> = columns.iter().map(|(c, _, _)| c.as_str()).collect();
            let shared: Vec<bool> = columns.iter().map(|(_, _, s)| *s).collect();
            dialect
                .insert_sql_shared(table, &cols, &shared, rows, on_conflict, guard)
                .into()
        }))
    }
}
