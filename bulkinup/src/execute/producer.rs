//! The producer: reads the input, casts each item with its changeset, recovers what can be
//! recovered, and plans the valid items, one chunk at a time.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};

use serde_json::Value as J;

use crate::changeset::{CastCtx, Changeset, cast_with, recover, recoverable};
use crate::error::{Error, ItemRef, Result};
use crate::item::{InputRange, Item};
use crate::options::{Handler, MaxSkipped, Rejected, ResolvedOptions, Skipped};
use crate::plan::{Batch, Planner};
use crate::schema::{Registry, Schema};
use crate::summary::{SKIPPED_KEYS_LISTED, SkippedReport, Summary};

/// How many items the producer validates between two yields when it runs beside a writer.
pub(super) const YIELD_EVERY: usize = 32;

/// One chunk of the input, planned: its batches, the valid items they were planned from
/// (so that a failing chunk can be planned again item by item, to find the item the
/// database refused), and the input ranges it was read from.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    /// The batches, in write order.
    pub(crate) batches: Vec<Batch>,
    /// The valid items, in input order (the skipped ones are not written).
    pub(crate) items: Vec<Item>,
    /// The input ranges of its items (valid or not), one per input file it was read from.
    pub(crate) ranges: Vec<InputRange>,
}

/// Casts items with the call's changeset and recovers what can be recovered: the producer's
/// first step, and how a failing chunk's items are planned again one part at a time.
#[derive(Debug, Clone)]
pub(crate) struct Caster {
    registry: Registry,
    root: Arc<Schema>,
    resolved: Arc<ResolvedOptions>,
}

impl Caster {
    /// The item's changeset, cast with the call's changeset, placeholders and clock.
    pub(crate) fn cast(&self, item: &Item) -> Changeset {
        let options = &self.resolved.options;
        cast_with(
            &self.registry,
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
            &[],
        )
    }

    /// Whether an invalid changeset can be recovered (`recover_changeset_errors`).
    pub(crate) fn recoverable(&self, cs: &Changeset) -> bool {
        !self.resolved.options.recover_changeset_errors.is_empty()
            && recoverable(cs, &self.resolved.recover)
    }

    /// Recovers an invalid changeset.
    pub(crate) fn recover(&self, cs: &mut Changeset) {
        recover(cs, &self.resolved.recover);
    }

    /// The batches of `items` alone, cast (and recovered) again and planned afresh: shared
    /// `many_to_many` rows that an earlier chunk sent are sent again (as the conflict rules
    /// of the call write them), so that the batches need nothing the database may not hold.
    pub(crate) fn plan(&self, items: &[Item]) -> Vec<Batch> {
        let mut planner = Planner::new(self.registry.clone(), Arc::clone(&self.resolved), false);
        for item in items {
            let mut cs = self.cast(item);
            if !cs.is_valid() && self.recoverable(&cs) {
                self.recover(&mut cs);
            }
            if cs.is_valid() {
                planner.add(cs);
            }
        }
        planner.take()
    }

    /// The item as errors name it: origin, schema and primary key.
    pub(crate) fn item_ref(&self, item: &Item) -> ItemRef {
        ItemRef {
            origin: item.origin.clone(),
            schema: self.root.name.clone(),
            primary_key: self.cast(item).primary_key_json(),
        }
    }

    /// The call's options.
    pub(crate) fn resolved(&self) -> &Arc<ResolvedOptions> {
        &self.resolved
    }
}

/// The items the database refused, as the writer side counts them until the producer's
/// summary takes them ([`Producer::rejected`]).
#[derive(Debug, Default)]
pub(super) struct RejectedTally {
    count: u64,
    /// The primary keys of the first [`SKIPPED_KEYS_LISTED`].
    keys: Vec<J>,
}

impl RejectedTally {
    /// Counts a chunk's refused items and hands them to the `on_rejected` handler.
    pub(super) fn add(&mut self, rejected: &[Rejected], resolved: &ResolvedOptions) {
        if rejected.is_empty() {
            return;
        }
        self.count += rejected.len() as u64;
        for r in rejected {
            if self.keys.len() < SKIPPED_KEYS_LISTED {
                let key = r.error.item().map_or(J::Null, |i| i.primary_key.clone());
                self.keys.push(key);
            }
        }
        if let Some(Handler(f)) = &resolved.options.on_rejected {
            f(rejected);
        }
    }
}

/// Reads, validates, recovers and plans the input, one chunk at a time.
pub(super) struct Producer<S> {
    caster: Caster,
    planner: Planner,
    pub(super) resolved: Arc<ResolvedOptions>,
    pub(super) summary: Summary,
    skipped: SkippedReport,
    items: Pin<Box<futures::stream::Fuse<S>>>,
    /// Yield to the writer every this many items (0: never).
    pub(super) yield_every: usize,
    /// Items pulled from the input so far, those of other shards included.
    pulled: u64,
}

impl<S: Stream<Item = Result<Item>>> Producer<S> {
    /// A producer of the items of the schema `root`; `across_chunks` as the planner's (rows
    /// shared by several chunks are written once: one transaction).
    pub(super) fn new(
        registry: &Registry,
        root: Arc<Schema>,
        resolved: Arc<ResolvedOptions>,
        summary: Summary,
        items: S,
        across_chunks: bool,
    ) -> Self {
        Producer {
            caster: Caster {
                registry: registry.clone(),
                root,
                resolved: Arc::clone(&resolved),
            },
            planner: Planner::new(registry.clone(), Arc::clone(&resolved), across_chunks),
            resolved,
            summary,
            skipped: SkippedReport::default(),
            items: Box::pin(items.fuse()),
            yield_every: 0,
            pulled: 0,
        }
    }

    /// The next chunk, or `None` at the end of the input.
    pub(super) async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let options = &self.resolved.options;
        let chunk_size = options.chunk_size;
        let mut invalid: Vec<Skipped> = Vec::new();
        let mut recovered: Vec<Changeset> = Vec::new();
        let recovery = !options.recover_changeset_errors.is_empty();
        let mut valid: Vec<Item> = Vec::new();
        let mut ranges = Vec::new();
        // Each item is cast and planned as soon as it is pulled, while its JSON is still in
        // the CPU's cache (casting a whole chunk after reading it missed the cache on every
        // attrs lookup).
        // Items of this call (of its shard) in the chunk.
        let mut n = 0;
        while n < chunk_size {
            let item = match self.items.next().await {
                Some(item) => item?,
                None => break,
            };
            // The item's position in the input, over every shard's items.
            self.pulled += 1;
            let position = self.pulled;
            if self.yield_every > 0 && position.is_multiple_of(self.yield_every as u64) {
                tokio::task::yield_now().await;
            }
            let mut cs = self.caster.cast(&item);
            let recoverable = !cs.is_valid() && recovery && self.caster.recoverable(&cs);
            let unrecovered = (recoverable && options.on_recovered.is_some()).then(|| cs.clone());
            if recoverable {
                self.caster.recover(&mut cs);
            }
            if let Some(shard) = options.shard {
                let key = match cs.is_valid() {
                    true => cs.primary_key_json(),
                    false => J::Null,
                };
                if !shard.owns(&key, position) {
                    self.summary.other_shards += 1;
                    continue;
                }
            }
            n += 1;
            InputRange::extend(&mut ranges, item.origin.as_ref(), position);
            if recoverable {
                recovered.extend(unrecovered);
                self.summary.recovered += 1;
            }
            if cs.is_valid() {
                self.summary.written += 1;
                self.planner.add(cs);
                valid.push(item);
            } else {
                self.summary.skipped += 1;
                self.skipped.record(&cs, &item);
                if cs.lacks_inferable_foreign_key(options.infer_foreign_keys) {
                    self.summary.skipped_for_missing_foreign_key += 1;
                }
                if options.on_skipped.is_some() {
                    invalid.push(Skipped {
                        changeset: cs,
                        item,
                    });
                }
                // A count limit is checked as soon as it is passed: the rest is not read.
                if let Some(limit @ MaxSkipped::Items(_)) = options.max_skipped
                    && let Err(e) = self.check_invalid(limit)
                {
                    if let Some(Handler(f)) = &options.on_skipped {
                        f(&invalid);
                    }
                    return Err(e);
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
        Ok(Some(Chunk {
            batches: self.planner.take(),
            items: valid,
            ranges,
        }))
    }

    /// [`Error::TooManyInvalid`] if the invalid items read so far — skipped, and rejected by
    /// the database — pass `limit`.
    fn check_invalid(&self, limit: MaxSkipped) -> Result<()> {
        let (invalid, total) = (
            self.summary.skipped + self.summary.rejected,
            self.summary.read(),
        );
        match limit.exceeded(invalid, total) {
            true => Err(Error::TooManyInvalid {
                invalid,
                total,
                limit,
                per_chunk: self.resolved.options.max_concurrency.is_some(),
            }),
            false => Ok(()),
        }
    }

    /// At the end of the input, before the commit: [`Error::TooManyInvalid`] if the invalid
    /// items pass `max_skipped` (a percentage can only be checked here, once the number of
    /// items is known).
    pub(super) fn check_invalid_at_end(&self) -> Result<()> {
        match self.resolved.options.max_skipped {
            Some(limit) => self.check_invalid(limit),
            None => Ok(()),
        }
    }

    /// Counts a chunk's planned rows in the summary and reports progress (the dry run, and
    /// one transaction before its writer's counts replace them).
    pub(super) fn planned(&mut self, batches: &[Batch]) {
        for b in batches {
            *self.summary.rows.entry(b.display_name()).or_insert(0) += b.rows.len() as u64;
        }
        self.progress();
    }

    /// The caster of the call's items.
    pub(super) fn caster(&self) -> &Caster {
        &self.caster
    }

    /// Counts the items the database refused and that were set aside (`on_error` =
    /// `reject`): they were counted as written when they were planned.
    pub(super) fn rejected(&mut self, tally: RejectedTally) {
        self.summary.written = self.summary.written.saturating_sub(tally.count);
        self.summary.rejected += tally.count;
        let room = SKIPPED_KEYS_LISTED.saturating_sub(self.summary.rejected_keys.len());
        self.summary
            .rejected_keys
            .extend(tally.keys.into_iter().take(room));
    }

    /// Calls the progress handler with the summary so far.
    pub(super) fn progress(&self) {
        if let Some(Handler(f)) = &self.resolved.options.on_progress {
            f(&self.summary);
        }
    }

    /// The call's one warning about skipped items.
    pub(super) fn finish(&mut self) {
        self.skipped.finish(&mut self.summary);
    }
}
