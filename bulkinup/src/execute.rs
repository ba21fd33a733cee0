//! Execution: pull the input chunk by chunk, validate, plan, and write each chunk's batches
//! inside one transaction, splitting statements by `chunk_size` and the database's bind
//! limit.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use sqlx::{Arguments, Database, Executor, Pool, Transaction};

use crate::changeset::cast_with;
use crate::dialect::Backend;
use crate::error::{Error, Result};
use crate::item::Item;
use crate::options::{Handler, Options, ResolvedOptions, Skipped, Verb};
use crate::plan::{Batch, Planner};
use crate::schema::Registry;
use crate::summary::{SkippedReport, Summary};

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
    B: Backend,
    S: Stream<Item = Result<Item>>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    let resolved = Arc::new(options.resolve(registry, verb, root)?);
    let root_schema = Arc::clone(registry.at(registry.index(root)?));
    let mut tx = match options.dry_run {
        true => None,
        false => Some(pool.begin().await.map_err(|e| Error::database(None, e))?),
    };
    let mut writer = Writer::<B>::new(Arc::clone(&resolved));
    let mut planner = Planner::new(registry.clone(), Arc::clone(&resolved));
    let mut summary = Summary::new(verb);
    let mut skipped = SkippedReport::default();
    let chunk_size = options.chunk_size;
    let mut items = pin!(items);
    let mut done = false;
    while !done {
        let mut chunk = Vec::with_capacity(chunk_size);
        while chunk.len() < chunk_size {
            match items.next().await {
                Some(Ok(item)) => chunk.push(item),
                Some(Err(e)) => {
                    rollback(tx).await;
                    return Err(e);
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        if chunk.is_empty() {
            break;
        }
        let mut invalid: Vec<Skipped> = Vec::new();
        for item in chunk {
            let cs = cast_with(
                registry,
                &root_schema,
                &resolved.options.changeset,
                &item.attrs,
            );
            if cs.is_valid() {
                summary.written += 1;
                planner.add(cs);
            } else {
                summary.skipped += 1;
                skipped.record(&cs, &item);
                if options.on_skipped.is_some() {
                    invalid.push(Skipped {
                        changeset: cs,
                        item,
                    });
                }
            }
        }
        if let Some(Handler(f)) = &options.on_skipped
            && !invalid.is_empty()
        {
            f(&invalid);
        }
        for batch in planner.take() {
            if let Some(t) = tx.as_mut()
                && let Err(e) = writer.write(t, &batch).await
            {
                rollback(tx.take()).await;
                return Err(e);
            }
            *summary.rows.entry(batch.table.clone()).or_insert(0) += batch.rows.len() as u64;
        }
        if let Some(Handler(f)) = &options.on_progress {
            f(&summary);
        }
    }
    if let Some(tx) = tx {
        tx.commit().await.map_err(|e| Error::database(None, e))?;
    }
    summary.statements = writer.statements.into_iter().collect();
    skipped.warn(&summary);
    Ok(summary)
}

/// Writes batches, caching one SQL text per (table node, row count).
pub(crate) struct Writer<B: Backend> {
    dialect: B,
    options: Arc<ResolvedOptions>,
    sql: HashMap<(usize, usize, usize), Arc<str>>,
    /// Statements sent, per table (for tests and the statement-count report).
    pub(crate) statements: HashMap<String, u64>,
}

impl<B: Backend> Writer<B>
where
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    pub(crate) fn new(options: Arc<ResolvedOptions>) -> Self {
        Writer {
            dialect: B::default(),
            options,
            sql: HashMap::new(),
            statements: HashMap::new(),
        }
    }

    /// Writes one batch in ⌈rows / per_statement⌉ statements.
    pub(crate) async fn write(
        &mut self,
        tx: &mut Transaction<'static, B::DB>,
        batch: &Batch,
    ) -> Result<()> {
        let ncols = batch.columns.len();
        let per = rows_per_statement(
            self.options.options.chunk_size,
            self.dialect.bind_limit(),
            ncols,
        );
        for rows in batch.rows.chunks(per) {
            let sql = self.sql_for(batch, rows.len());
            let mut args = <B::DB as Database>::Arguments::default();
            args.reserve(rows.len() * ncols, rows.len() * ncols * 8);
            for row in rows {
                for (value, column) in row.iter().zip(batch.columns.iter()) {
                    B::bind(&mut args, value, &column.ty)
                        .map_err(|e| Error::database(Some(&batch.table), sqlx::Error::Encode(e)))?;
                }
            }
            let query = sqlx::query_with(crate::dialect::trusted_sql(&*sql), args)
                .persistent(rows.len() == per);
            query
                .execute(&mut **tx)
                .await
                .map_err(|e| Error::database(Some(&batch.table), e))?;
            *self.statements.entry(batch.table.clone()).or_insert(0) += 1;
        }
        Ok(())
    }

    fn sql_for(&mut self, batch: &Batch, rows: usize) -> Arc<str> {
        let key = (
            Arc::as_ptr(&batch.columns) as *const () as usize,
            Arc::as_ptr(&batch.on_conflict) as usize,
            rows,
        );
        let dialect = &self.dialect;
        Arc::clone(self.sql.entry(key).or_insert_with(|| {
            let cols: Vec<&str> = batch.columns.iter().map(|c| c.name.as_str()).collect();
            dialect
                .insert_sql(&batch.table, &cols, rows, &batch.on_conflict)
                .into()
        }))
    }
}

/// Rolls back, ignoring a failure to do so (the connection is dropped either way, which rolls
/// back too).
async fn rollback<DB: Database>(tx: Option<Transaction<'static, DB>>) {
    if let Some(tx) = tx {
        let _ = tx.rollback().await;
    }
}
