//! Execution: pull the input chunk by chunk, validate, plan, and write each chunk's batches —
//! all chunks in one transaction, or, with `max_concurrency`, each chunk in its own
//! transaction on its own pooled connection — splitting statements by `chunk_size` and the
//! database's bind limit.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use sqlx::{Arguments, Database, Executor, Pool, Transaction};
use tokio::task::JoinSet;

use crate::changeset::{CastCtx, Changeset, cast_with, recover, recoverable};
use crate::dialect::{Backend, Columnar, trusted_sql};
use crate::error::{Error, Result};
use crate::item::Item;
use crate::options::{Handler, Options, ResolvedOptions, Skipped, Verb, WriteContext};
use crate::plan::{Batch, OnConflict, Planner};
use crate::schema::{Registry, Schema, Value};
use crate::summary::{SkippedReport, Summary};

/// How many times a chunk that hit a deadlock or serialization failure is tried in all
/// (with `max_concurrency`).
pub const CHUNK_ATTEMPTS: u32 = 4;

/// How many rows of `ncols` columns one statement may carry.
pub(crate) fn rows_per_statement(chunk_size: usize, bind_limit: usize, ncols: usize) -> usize {
    chunk_size.min(bind_limit / ncols.max(1)).max(1)
}

/// Runs one call on one backend.
pub(crate) async fn run<B, S>(
    pool: &Pool<B::DB>,
    registry: &Registry,
    root: &str,
    verb: Verb,
    items: S,
    options: &Options,
) -> Result<Summary>
where
    B: Backend + Send + Sync,
    S: Stream<Item = Result<Item>>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    let resolved = Arc::new(options.resolve(registry, verb, root)?);
    let root_schema = Arc::clone(registry.at(registry.index(root)?));
    let mut producer = Producer {
        registry,
        root: root_schema,
        planner: Planner::new(
            registry.clone(),
            Arc::clone(&resolved),
            options.max_concurrency.is_none(),
        ),
        resolved: Arc::clone(&resolved),
        summary: Summary {
            root: root.to_string(),
            ..Summary::new(verb)
        },
        skipped: SkippedReport::default(),
        items: Box::pin(items.fuse()),
        yield_every: 0,
    };
    let summary = match (options.dry_run, options.max_concurrency) {
        (true, _) => {
            while let Some(batches) = producer.next_chunk().await? {
                for b in &batches {
                    *producer.summary.rows.entry(b.display_name()).or_insert(0) +=
                        b.rows.len() as u64;
                }
                producer.progress();
            }
            producer.finish();
            producer.summary
        }
        (false, None) => {
            let mut tx = pool.begin().await.map_err(|e| Error::database(None, e))?;
            // The limit covers the writes; the commit is outside it, so that a call reported
            // as timed out is never committed. An error drops `tx`, which rolls back.
            let deadline = Deadline::start(options.timeout);
            begin_limits::<B>(&mut tx, options.timeout).await?;
            write_in::<B, S>(&mut tx, &mut producer, deadline).await?;
            deadline.check(None)?;
            tx.commit().await.map_err(|e| Error::database(None, e))?;
            producer.finish();
            producer.summary
        }
        (false, Some(n)) => concurrent::<B, S>(pool, producer, n).await?,
    };
    Ok(summary)
}

/// The end of the time a transaction may take. The limit is enforced without ever
/// dropping a statement in flight (which would leave the connection mid-protocol): it is
/// checked before each statement and before the commit, and each statement is bounded by the
/// database itself where it can (PostgreSQL `statement_timeout`, MariaDB
/// `max_statement_time`), whose cancellation is reported as a timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    limit: Option<(Duration, tokio::time::Instant)>,
}

impl Deadline {
    pub(crate) fn start(limit: Option<Duration>) -> Self {
        Deadline {
            limit: limit.map(|l| (l, tokio::time::Instant::now() + l)),
        }
    }

    /// An error if the limit has passed.
    pub(crate) fn check(&self, table: Option<&str>) -> Result<()> {
        match self.limit {
            Some((limit, end)) if tokio::time::Instant::now() > end => Err(Error::Timeout {
                seconds: limit.as_secs_f64(),
                table: table.map(str::to_string),
            }),
            _ => Ok(()),
        }
    }
}

/// Sets the database's own per-statement limit for this transaction, if it has one.
async fn begin_limits<B>(
    tx: &mut Transaction<'static, B::DB>,
    limit: Option<Duration>,
) -> Result<()>
where
    B: Backend,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
{
    let dialect = B::default();
    if let Some(sql) = dialect.statement_timeout_sql(limit) {
        let r = (&mut **tx).execute(sqlx::raw_sql(trusted_sql(sql))).await;
        if let Err(e) = r
            && !dialect.statement_timeout_optional()
        {
            return Err(Error::database(None, e));
        }
    }
    Ok(())
}

/// Writes every chunk into one transaction.
async fn write_in<B, S>(
    tx: &mut Transaction<'static, B::DB>,
    producer: &mut Producer<'_, S>,
    deadline: Deadline,
) -> Result<()>
where
    B: Backend + Send + Sync,
    S: Stream<Item = Result<Item>>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    // Pipelined: the next chunk is validated and planned while the database executes the
    // statements of the previous one (the producer yields every few items so the writer's
    // I/O is served promptly). Both run in this task; the channel holds one chunk.
    let mut writer = Writer::<B>::new(Arc::clone(&producer.resolved));
    writer.deadline = deadline;
    let (mut send, mut recv) = futures::channel::mpsc::channel::<Vec<Batch>>(1);
    producer.yield_every = YIELD_EVERY;
    let produce = async {
        while let Some(batches) = producer.next_chunk().await? {
            for b in &batches {
                *producer.summary.rows.entry(b.display_name()).or_insert(0) += b.rows.len() as u64;
            }
            producer.progress();
            if send.send(batches).await.is_err() {
                break; // the writer failed; its error is returned
            }
        }
        drop(send);
        Ok::<(), Error>(())
    };
    let consume = async {
        let result = async {
            while let Some(batches) = recv.next().await {
                writer.write_all(tx, batches).await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        // Wakes a producer waiting to send, so a failed write ends the call.
        recv.close();
        result
    };
    let (produced, consumed) = futures::join!(produce, consume);
    consumed?;
    produced?;
    // What was written, after the writer hook, is what the summary reports.
    producer.summary.rows.clear();
    writer.add_counts(&mut producer.summary);
    Ok(())
}

/// How many items the producer validates between two yields when it runs beside a writer.
const YIELD_EVERY: usize = 32;

/// Up to `n` chunks at once, each in its own transaction. Committed chunks stay committed
/// when a later one fails; the first error is returned once the chunks in flight have ended.
async fn concurrent<B, S>(
    pool: &Pool<B::DB>,
    mut producer: Producer<'_, S>,
    n: usize,
) -> Result<Summary>
where
    B: Backend + Send + Sync,
    S: Stream<Item = Result<Item>>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    let mut tasks: JoinSet<Result<Counts>> = JoinSet::new();
    let mut first_error: Option<Error> = None;
    let timeout = producer.resolved.options.timeout;
    loop {
        while first_error.is_none() && tasks.len() < n {
            match producer.next_chunk().await {
                Ok(Some(batches)) => {
                    let pool = pool.clone();
                    let resolved = Arc::clone(&producer.resolved);
                    tasks.spawn(write_chunk::<B>(pool, resolved, batches, timeout));
                }
                Ok(None) => break,
                Err(e) => first_error = Some(e),
            }
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        match done {
            Ok(Ok(counts)) => {
                counts.add_to(&mut producer.summary);
                producer.progress();
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(Error::Task {
                    message: join.to_string(),
                });
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    producer.finish();
    Ok(producer.summary)
}

/// One chunk in its own transaction, retried on deadlock or serialization failure.
async fn write_chunk<B>(
    pool: Pool<B::DB>,
    resolved: Arc<ResolvedOptions>,
    batches: Vec<Batch>,
    timeout: Option<Duration>,
) -> Result<Counts>
where
    B: Backend + Send + Sync,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    let mut attempt = 1;
    loop {
        let mut writer = Writer::<B>::new(Arc::clone(&resolved));
        let result = async {
            let mut tx = pool.begin().await.map_err(|e| Error::database(None, e))?;
            let deadline = Deadline::start(timeout);
            begin_limits::<B>(&mut tx, timeout).await?;
            writer.deadline = deadline;
            writer.write_all(&mut tx, batches.clone()).await?;
            deadline.check(None)?;
            tx.commit().await.map_err(|e| Error::database(None, e))
        }
        .await;
        match result {
            Ok(()) => return Ok(writer.counts),
            Err(Error::Database {
                code: Some(code), ..
            }) if attempt < CHUNK_ATTEMPTS && writer.dialect.is_retryable(&code) => {
                tracing::debug!(
                    attempt,
                    code,
                    "chunk hit a deadlock or serialization failure; retrying"
                );
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads, validates, recovers and plans the input, one chunk at a time.
struct Producer<'r, S> {
    registry: &'r Registry,
    root: Arc<Schema>,
    planner: Planner,
    resolved: Arc<ResolvedOptions>,
    summary: Summary,
    skipped: SkippedReport,
    items: Pin<Box<futures::stream::Fuse<S>>>,
    /// Yield to the writer every this many items (0: never).
    yield_every: usize,
}

impl<S: Stream<Item = Result<Item>>> Producer<'_, S> {
    /// The next chunk's batches, or `None` at the end of the input.
    async fn next_chunk(&mut self) -> Result<Option<Vec<Batch>>> {
        let options = &self.resolved.options;
        let chunk_size = options.chunk_size;
        let mut invalid: Vec<Skipped> = Vec::new();
        let mut recovered: Vec<Changeset> = Vec::new();
        let recovery = !options.recover_changeset_errors.is_empty();
        // Each item is cast and planned as soon as it is pulled, while its JSON is still in
        // the CPU's cache (casting a whole chunk after reading it missed the cache on every
        // attrs lookup).
        let mut n = 0;
        while n < chunk_size {
            let item = match self.items.next().await {
                Some(item) => item?,
                None => break,
            };
            n += 1;
            if self.yield_every > 0 && n % self.yield_every == 0 {
                tokio::task::yield_now().await;
            }
            let mut cs = cast_with(
                self.registry,
                &self.root,
                &options.changeset,
                &item.attrs,
                &CastCtx {
                    placeholders: &self.resolved.placeholders,
                    infer_foreign_keys: options.infer_foreign_keys,
                    now: Some(&self.resolved.now),
                },
                None,
                &[],
            );
            if !cs.is_valid() && recovery && recoverable(&cs, &self.resolved.recover) {
                if options.on_recovered.is_some() {
                    recovered.push(cs.clone());
                }
                recover(&mut cs, &self.resolved.recover);
                self.summary.recovered += 1;
            }
            if cs.is_valid() {
                self.summary.written += 1;
                self.planner.add(cs);
            } else {
                self.summary.skipped += 1;
                self.skipped.record(&cs, &item);
                if options.on_skipped.is_some() {
                    invalid.push(Skipped {
                        changeset: cs,
                        item,
                    });
                }
            }
        }
        if n == 0 {
            return Ok(None);
        }
        if let Some(Handler(f)) = &options.on_skipped
            && !invalid.is_empty()
        {
            f(&invalid);
        }
        if let Some(Handler(f)) = &options.on_recovered
            && !recovered.is_empty()
        {
            f(&recovered);
        }
        Ok(Some(self.planner.take()))
    }

    fn progress(&self) {
        if let Some(Handler(f)) = &self.resolved.options.on_progress {
            f(&self.summary);
        }
    }

    /// The call's one warning about skipped items.
    fn finish(&mut self) {
        self.skipped.finish(&mut self.summary);
    }
}

/// A value the driver could not encode, as an error naming the table.
fn encode_error(table: &str, e: sqlx::error::BoxDynError) -> Error {
    Error::database(Some(table), sqlx::Error::Encode(e))
}

/// Rows and statements written, per table.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    rows: BTreeMap<String, u64>,
    statements: BTreeMap<String, u64>,
}

impl Counts {
    fn add_to(self, summary: &mut Summary) {
        for (t, n) in self.rows {
            *summary.rows.entry(t).or_insert(0) += n;
        }
        for (t, n) in self.statements {
            *summary.statements.entry(t).or_insert(0) += n;
        }
    }
}

type ShapeKey = (
    (Option<String>, String),
    Vec<(String, crate::schema::FieldType, bool)>,
    crate::plan::OnConflict,
);

/// Writes batches, caching one SQL text per statement shape and row count.
pub(crate) struct Writer<B: Backend> {
    dialect: B,
    resolved: Arc<ResolvedOptions>,
    /// Statement shape (table, columns, shared flags, conflict clause) → row count → SQL.
    sql: HashMap<ShapeKey, HashMap<usize, Arc<str>>>,
    /// Statement shape → the backend's columnar statement, if it has one.
    columnar: HashMap<ShapeKey, Option<Arc<str>>>,
    counts: Counts,
    deadline: Deadline,
}

impl<B: Backend> Writer<B>
where
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    pub(crate) fn new(resolved: Arc<ResolvedOptions>) -> Self {
        Writer {
            dialect: B::default(),
            resolved,
            sql: HashMap::new(),
            columnar: HashMap::new(),
            counts: Counts::default(),
            deadline: Deadline::start(None),
        }
    }

    /// Moves the counts so far into the summary.
    fn add_counts(&mut self, summary: &mut Summary) {
        std::mem::take(&mut self.counts).add_to(summary);
    }

    /// Writes a chunk's batches in order, through the writer hook if there is one.
    async fn write_all(
        &mut self,
        tx: &mut Transaction<'static, B::DB>,
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
                None => self.write(tx, &batch).await?,
                Some(hook) => {
                    let ctx = WriteContext {
                        verb: self.resolved.verb,
                        timeout: self.resolved.options.timeout,
                        database: self.dialect.name(),
                    };
                    for b in (hook.0)(&ctx, batch)? {
                        self.write(tx, &b).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes rows without their autogenerated key (the column is left out, so the database
    /// generates it) with `RETURNING`, and stores each row's key in its slot: by position for
    /// an insert (PostgreSQL, SQLite and MariaDB return the rows of a multi-row `VALUES` in
    /// order), by the conflict-target columns for an upsert (a conflicting row returns the
    /// existing row's key).
    async fn write_returning(
        &mut self,
        tx: &mut Transaction<'static, B::DB>,
        batch: &Batch,
        generated: &crate::plan::Generated,
        rows: Vec<(Vec<Value>, u32)>,
        keys: &mut Vec<Option<Value>>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let pk = generated.pk;
        let cols: Vec<usize> = (0..batch.columns.len()).filter(|&c| c != pk).collect();
        let names: Vec<&str> = cols
            .iter()
            .map(|&c| batch.columns[c].name.as_str())
            .collect();
        let match_cols: Vec<usize> = generated.match_cols.clone().unwrap_or_default();
        let mut returning: Vec<&str> = vec![batch.columns[pk].name.as_str()];
        returning.extend(match_cols.iter().map(|&c| batch.columns[c].name.as_str()));
        // A conflicting row must come back too: "do nothing" becomes a no-op update.
        let on_conflict = match &*batch.on_conflict {
            OnConflict::Nothing { target } => OnConflict::Update {
                target: target.clone(),
                set: target.clone(),
            },
            other => other.clone(),
        };
        let per = rows_per_statement(
            self.resolved.options.chunk_size,
            self.dialect.bind_limit(),
            cols.len(),
        );
        for part in rows.chunks(per) {
            let sql = self.dialect.insert_returning_sql(
                batch.table_name(),
                &names,
                part.len(),
                &on_conflict,
                &returning,
            );
            let mut args = <B::DB as Database>::Arguments::default();
            for (row, _) in part {
                for &c in &cols {
                    B::bind(&mut args, &row[c], &batch.columns[c].ty)
                        .map_err(|e| encode_error(&batch.display_name(), e))?;
                }
            }
            self.deadline.check(Some(&batch.display_name()))?;
            let returned = sqlx::query_with(trusted_sql(&*sql), args)
                .persistent(false)
                .fetch_all(&mut **tx)
                .await
                .map_err(|e| self.statement_error(&batch.display_name(), e))?;
            self.count_statement(&batch.display_name());
            let key_value = |j: serde_json::Value| match j.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Json(j),
            };
            let mut assign = |slot: u32, key: Value| {
                let slot = slot as usize;
                if keys.len() <= slot {
                    keys.resize(slot + 1, None);
                }
                keys[slot] = Some(key);
            };
            if match_cols.is_empty() {
                for ((_, slot), r) in part.iter().zip(&returned) {
                    assign(*slot, key_value(B::column_json(r, 0)));
                }
            } else {
                let mut by_key: HashMap<String, Value> = HashMap::new();
                for r in &returned {
                    let k: Vec<serde_json::Value> = (1..=match_cols.len())
                        .map(|i| B::column_json(r, i))
                        .collect();
                    by_key.insert(
                        serde_json::Value::Array(k).to_string(),
                        key_value(B::column_json(r, 0)),
                    );
                }
                for (row, slot) in part {
                    let k: Vec<serde_json::Value> =
                        match_cols.iter().map(|&c| row[c].to_json()).collect();
                    if let Some(v) = by_key.get(&serde_json::Value::Array(k).to_string()) {
                        assign(*slot, v.clone());
                    }
                }
            }
        }
        *self.counts.rows.entry(batch.display_name()).or_insert(0) += rows.len() as u64;
        Ok(())
    }

    /// Writes one batch in ⌈rows / per_statement⌉ statements.
    pub(crate) async fn write(
        &mut self,
        tx: &mut Transaction<'static, B::DB>,
        batch: &Batch,
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
        if let Some(columnar) = B::columnar()
            && let Some(sql) = self.columnar_for(columnar, &shape, batch)
        {
            for rows in batch.rows.chunks(self.resolved.options.chunk_size) {
                let mut args = <B::DB as Database>::Arguments::default();
                columnar
                    .bind(&mut args, &batch.columns, rows)
                    .map_err(|e| encode_error(&batch.display_name(), e))?;
                self.execute(tx, &sql, args, true, &batch.display_name())
                    .await?;
            }
            *self.counts.rows.entry(batch.display_name()).or_insert(0) += batch.rows.len() as u64;
            return Ok(());
        }

        let nshared = shared.iter().filter(|s| **s).count();
        let per_row = batch.columns.len() - nshared;
        let per = rows_per_statement(
            self.resolved.options.chunk_size,
            self.dialect.bind_limit() - nshared,
            per_row,
        );
        for rows in batch.rows.chunks(per) {
            let sql = self.sql_for(&shape, rows.len());
            let mut args = <B::DB as Database>::Arguments::default();
            args.reserve(
                nshared + rows.len() * per_row,
                (nshared + rows.len() * per_row) * 8,
            );
            let bind_err = |e| encode_error(&batch.display_name(), e);
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
            self.execute(tx, &sql, args, rows.len() == per, &batch.display_name())
                .await?;
        }
        *self.counts.rows.entry(batch.display_name()).or_insert(0) += batch.rows.len() as u64;
        Ok(())
    }

    /// Runs one statement and counts it.
    async fn execute(
        &mut self,
        tx: &mut Transaction<'static, B::DB>,
        sql: &str,
        args: <B::DB as Database>::Arguments,
        persistent: bool,
        table: &str,
    ) -> Result<()> {
        self.deadline.check(Some(table))?;
        sqlx::query_with(trusted_sql(sql), args)
            .persistent(persistent)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.statement_error(table, e))?;
        self.count_statement(table);
        Ok(())
    }

    /// A failed statement as an error: the database's statement limit is a timeout,
    /// anything else a database error naming the table.
    fn statement_error(&self, table: &str, e: sqlx::Error) -> Error {
        match e {
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| self.dialect.is_statement_timeout(&c)) =>
            {
                Error::Timeout {
                    seconds: self
                        .resolved
                        .options
                        .timeout
                        .map_or(0.0, |l| l.as_secs_f64()),
                    table: Some(table.to_string()),
                }
            }
            e => Error::database(Some(table), e),
        }
    }

    fn count_statement(&mut self, table: &str) {
        *self.counts.statements.entry(table.to_string()).or_insert(0) += 1;
    }

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

    fn sql_for(&mut self, shape: &ShapeKey, rows: usize) -> Arc<str> {
        let dialect = &self.dialect;
        let by_rows = match self.sql.get_mut(shape) {
            Some(m) => m,
            None => self.sql.entry(shape.clone()).or_default(),
        };
        Arc::clone(by_rows.entry(rows).or_insert_with(|| {
            let ((prefix, name), columns, on_conflict) = shape;
            let table = crate::dialect::TableName {
                prefix: prefix.as_deref(),
                name,
            };
            let cols: Vec<&str> = columns.iter().map(|(c, _, _)| c.as_str()).collect();
            let shared: Vec<bool> = columns.iter().map(|(_, _, s)| *s).collect();
            dialect
                .insert_sql_shared(table, &cols, &shared, rows, on_conflict)
                .into()
        }))
    }
}
