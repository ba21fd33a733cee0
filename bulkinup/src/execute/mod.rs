//! Execution: pull the input chunk by chunk, validate, plan, and write each chunk's batches —
//! all chunks in one transaction, or, with `max_concurrency`, each chunk in its own
//! transaction on its own pooled connection — splitting statements by `chunk_size` and the
//! database's bind limit.
//!
//! One module per concern: [`producer`] reads, casts, recovers and plans the input;
//! [`writer`] renders, caches and binds the statements; [`returning`] writes the rows whose
//! keys the database generates and reads the keys back; [`unique`] keeps MySQL/MariaDB's
//! upserts from updating a row that another unique key than the conflict target matches;
//! [`deadline`] bounds a transaction by `timeout` and each statement by
//! `statement_timeout`, on the client's clock. This module runs a call: a dry run, one transaction, or concurrent chunks;
//! and it retries what another writer's locks made fail — a chunk of a call with
//! `max_concurrency`, or a whole one-transaction call whose input can be read again.

pub(crate) mod ddl;
mod deadline;
mod isolate;
mod producer;
mod returning;
mod unique;
mod writer;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use sqlx::{Database, Executor, Pool, Transaction};
use tokio::task::JoinSet;

use crate::dialect::Backend;
use crate::error::{Error, Result};
use crate::item::{InputRange, Item, Ledger};
use crate::options::{Committed, Handler, Options, Rejected, Verb};
use crate::schema::Registry;
use crate::summary::Summary;
pub(crate) use deadline::Deadline;
use deadline::Held;
pub(crate) use deadline::{execute_script_within, fetch_json_within, statement_limit};
use producer::{Caster, Chunk, Producer, RejectedTally, YIELD_EVERY};
use unique::UniqueKeys;
#[cfg(test)] // the dialect's tests check it where the executor's callers know it
pub(crate) use writer::rows_per_statement;
use writer::{Counts, Writer};

/// How many times a chunk that hit a deadlock or serialization failure is tried in all
/// (with `max_concurrency`).
pub const CHUNK_ATTEMPTS: u32 = 4;

/// How many times a one-transaction call that hit a deadlock or serialization failure is
/// tried in all, from the start, when its input can be read again
/// ([`write_restartable`](crate::write_restartable)).
pub const CALL_ATTEMPTS: u32 = 4;

/// The wait before the attempt after `attempt` (of a call or a chunk): 50 ms, doubled per
/// attempt, half of it random so that writers that collided do not collide again in step.
fn backoff(attempt: u32) -> Duration {
    let full = 50u64 << attempt.saturating_sub(1).min(6);
    Duration::from_millis(full / 2 + fastrand::u64(0..=full / 2))
}

/// Runs one call on one backend: the items of `first`, and — for a one-transaction call that
/// hits a deadlock or serialization failure — those of `again(attempt)` for each further
/// attempt, up to [`CALL_ATTEMPTS`] in all. Without `again` such a failure is returned as
/// [`Error::Contention`], as it is once every attempt failed. `bulk_load`: plain inserts
/// may use the backend's bulk loader ([`Columnar::copy_sql`](crate::dialect::Columnar::copy_sql)).
pub(crate) async fn run<B, S, F>(
    pool: &Pool<B::DB>,
    registry: &Registry,
    root: &str,
    verb: Verb,
    (first, mut again): (S, Option<F>),
    options: &Options,
    bulk_load: bool,
) -> Result<Summary>
where
    B: Backend + Send + Sync,
    S: Stream<Item = Result<Item>>,
    F: FnMut(u32) -> Result<S>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    // Resolved once: every attempt has the same options and the same clock reading.
    let mut resolved = options.resolve(registry, verb, root)?;
    resolved.bulk_load = bulk_load;
    let resolved = Arc::new(resolved);
    let root_schema = Arc::clone(registry.at(registry.index(root)?));
    let mut items = first;
    let mut attempt = 1;
    loop {
        // Each attempt starts afresh: its own summary, skipped-items report and planner.
        let producer = Producer::new(
            registry,
            Arc::clone(&root_schema),
            Arc::clone(&resolved),
            Summary {
                root: root.to_string(),
                ..Summary::new(verb)
            },
            items,
            options.max_concurrency.is_none(),
        );
        let error = match attempt_once::<B, S>(pool, producer, options).await {
            Ok(summary) => return Ok(summary),
            Err(e) if options.max_concurrency.is_none() && is_contention::<B>(&e) => e,
            Err(e) => return Err(e),
        };
        let next = match &mut again {
            Some(open) if attempt < CALL_ATTEMPTS => open(attempt + 1)?,
            _ => {
                return Err(Error::Contention {
                    attempts: attempt,
                    restartable: again.is_some(),
                    source: Box::new(error),
                });
            }
        };
        tracing::warn!(
            attempt,
            %error,
            "the call hit a deadlock or serialization failure and was rolled back; retrying from the start"
        );
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
        items = next;
    }
}

/// Whether an error is a deadlock or serialization failure: another writer held the same
/// rows, and the transaction may succeed if tried again.
fn is_contention<B: Backend>(e: &Error) -> bool {
    matches!(e, Error::Database { code: Some(code), .. } if B::default().is_retryable(code))
}

/// One attempt of a call: a dry run, one transaction, or concurrent chunks.
async fn attempt_once<B, S>(
    pool: &Pool<B::DB>,
    mut producer: Producer<S>,
    options: &Options,
) -> Result<Summary>
where
    B: Backend + Send + Sync,
    S: Stream<Item = Result<Item>>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    // The unique keys of MySQL/MariaDB tables, read once per attempt (on its transaction).
    let unique = Arc::new(UniqueKeys::new(&B::default(), options.any_unique_key));
    let summary = match (options.dry_run, options.max_concurrency) {
        (true, _) => {
            while let Some(chunk) = producer.next_chunk().await? {
                producer.planned(&chunk.batches);
            }
            producer.check_invalid_at_end()?;
            producer.finish();
            producer.summary
        }
        (false, None) => {
            // An error drops `tx`, which rolls back; a connection left mid-protocol by an
            // abandoned statement is closed when `conn` drops.
            let deadline = Deadline::start(options.timeout, options.statement_timeout);
            let mut conn = Held::acquire(pool, &B::default(), &deadline).await?;
            let mut tx = deadline::begin::<B>(&mut conn, &deadline).await?;
            write_in::<B, S>(&mut tx, &mut producer, deadline.clone(), unique).await?;
            // Before the commit: too many invalid items roll everything back.
            producer.check_invalid_at_end()?;
            deadline::commit::<B>(tx, &deadline).await?;
            // Only now are the rows committed: one last progress report says so.
            producer.summary.committed = true;
            producer.progress();
            producer.finish();
            producer.summary
        }
        (false, Some(n)) => concurrent::<B, S>(pool, producer, n, unique).await?,
    };
    Ok(summary)
}

/// Writes every chunk into one transaction.
async fn write_in<B, S>(
    tx: &mut Transaction<'_, B::DB>,
    producer: &mut Producer<S>,
    deadline: Deadline,
    unique: Arc<UniqueKeys>,
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
    let mut writer = Writer::<B>::new(Arc::clone(&producer.resolved), deadline, unique);
    let caster = producer.caster().clone();
    let mut tally = RejectedTally::default();
    let (mut send, mut recv) = futures::channel::mpsc::channel::<Chunk>(1);
    producer.yield_every = YIELD_EVERY;
    let produce = async {
        while let Some(chunk) = producer.next_chunk().await? {
            producer.planned(&chunk.batches);
            if send.send(chunk).await.is_err() {
                break; // the writer failed; its error is returned
            }
        }
        drop(send);
        Ok::<(), Error>(())
    };
    let consume = async {
        let result = async {
            while let Some(chunk) = recv.next().await {
                let rejected = writer.write_chunk(tx, chunk, &caster).await?;
                tally.add(&rejected, caster.resolved());
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
    producer.rejected(tally);
    // What was written, after the writer hook, is what the summary reports.
    producer.summary.rows.clear();
    writer.add_counts(&mut producer.summary);
    Ok(())
}

/// Up to `n` chunks at once, each in its own transaction. Committed chunks stay committed
/// when a later one fails; the first error is returned once the chunks in flight have ended,
/// as [`Error::PartlyCommitted`] with the input ranges that committed. Each chunk's task
/// records its ranges (and calls `on_committed`) as soon as it has committed, even while the
/// producer waits for input.
async fn concurrent<B, S>(
    pool: &Pool<B::DB>,
    mut producer: Producer<S>,
    n: usize,
    unique: Arc<UniqueKeys>,
) -> Result<Summary>
where
    B: Backend + Send + Sync,
    S: Stream<Item = Result<Item>>,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    let mut tasks: JoinSet<Result<(Counts, Vec<Rejected>)>> = JoinSet::new();
    let caster = Arc::new(producer.caster().clone());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut first_error: Option<Error> = None;
    // The row counts come only from chunks that committed.
    producer.summary.committed = true;
    let timeout = producer.resolved.options.timeout;
    let statement_timeout = producer.resolved.options.statement_timeout;
    loop {
        while first_error.is_none() && tasks.len() < n {
            match producer.next_chunk().await {
                Ok(Some(chunk)) => {
                    let pool = pool.clone();
                    let caster = Arc::clone(&caster);
                    let unique = Arc::clone(&unique);
                    let ranges = chunk.ranges.clone();
                    lock(&ledger).read(&ranges);
                    let on_committed = producer.resolved.options.on_committed.clone();
                    let write =
                        write_chunk::<B>(pool, caster, unique, chunk, (timeout, statement_timeout));
                    let ledger = Arc::clone(&ledger);
                    tasks.spawn(async move {
                        let written = write.await?;
                        record(&ledger, ranges, on_committed.as_ref());
                        Ok(written)
                    });
                }
                Ok(None) => break,
                Err(e) => first_error = Some(e),
            }
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        match done {
            Ok(Ok((counts, rejected))) => {
                counts.add_to(&mut producer.summary);
                let mut tally = RejectedTally::default();
                tally.add(&rejected, caster.resolved());
                producer.rejected(tally);
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
    let partly = |source: Error| Error::PartlyCommitted {
        committed: lock(&ledger).ranges().to_vec(),
        source: Box::new(source),
    };
    if let Some(e) = first_error {
        return Err(partly(e));
    }
    // Each chunk has committed by now: a percentage passed fails the call all the same.
    producer.check_invalid_at_end().map_err(partly)?;
    producer.finish();
    Ok(producer.summary)
}

/// The ledger of a concurrent call (a panicking handler does not lose it).
fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records the ranges of a chunk that committed and tells `on_committed`, under the
/// ledger's lock: one call at a time, each with everything committed by then.
fn record(
    ledger: &Mutex<Ledger>,
    chunk: Vec<InputRange>,
    on_committed: Option<&Handler<Committed>>,
) {
    let mut ledger = lock(ledger);
    ledger.committed(&chunk);
    if let Some(Handler(f)) = on_committed {
        f(&Committed {
            chunk,
            so_far: ledger.ranges().to_vec(),
        });
    }
}

/// One chunk in its own transaction, retried on deadlock or serialization failure.
async fn write_chunk<B>(
    pool: Pool<B::DB>,
    caster: Arc<Caster>,
    unique: Arc<UniqueKeys>,
    chunk: Chunk,
    (timeout, statement_timeout): (Option<Duration>, Option<Duration>),
) -> Result<(Counts, Vec<Rejected>)>
where
    B: Backend + Send + Sync,
    for<'c> &'c mut <B::DB as Database>::Connection: Executor<'c, Database = B::DB>,
    <B::DB as Database>::Arguments: sqlx::IntoArguments<B::DB>,
    B::DB: sqlx::database::HasStatementCache,
{
    let mut attempt = 1;
    loop {
        let result = async {
            let deadline = Deadline::start(timeout, statement_timeout);
            let mut conn = Held::acquire(&pool, &B::default(), &deadline).await?;
            let mut tx = deadline::begin::<B>(&mut conn, &deadline).await?;
            let resolved = Arc::clone(caster.resolved());
            let mut writer = Writer::<B>::new(resolved, deadline.clone(), Arc::clone(&unique));
            let rejected = writer.write_chunk(&mut tx, chunk.clone(), &caster).await?;
            deadline::commit::<B>(tx, &deadline).await?;
            Ok((writer.counts, rejected))
        }
        .await;
        match result {
            Ok(counts) => return Ok(counts),
            Err(e) if attempt < CHUNK_ATTEMPTS && is_contention::<B>(&e) => {
                tracing::debug!(
                    attempt,
                    %e,
                    "chunk hit a deadlock or serialization failure; retrying"
                );
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
