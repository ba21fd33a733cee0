//! Planning: flatten valid changesets into per-table row batches in write order,
//! de-duplicated.
//!
//! Each place a table is reached from the root (the root schema, `Author.posts`,
//! `Author.posts.tags`, the `posts_tags` join rows, …) is a *node*. Nodes are created the first
//! time a row reaches them, so a node is always created after the node of its parent rows,
//! and a join node after the node of its related rows: node order is a valid write order
//! (parents before children, related rows before join rows), at any depth, even for
//! self-referencing schemas. The join nodes of a link-only `many_to_many`
//! (`write_related = false`), which has no related rows, come after every other node: the
//! rows they link to may be anywhere in the chunk.
//!
//! De-duplication (README, "What one call does": conflicts), per node and per chunk:
//! - upsert: rows sharing a conflict key are merged, the last occurrence wins, in the place
//!   of the first;
//! - insert: only `many_to_many` related rows (by primary key) and join rows are merged;
//! - join rows are always merged (a duplicate link is written once);
//! - rows with a `NULL` in their key are never merged (NULLs never conflict).
//!
//! Across the chunks of one call, a `many_to_many` related row is sent again only when it
//! differs from the version already sent (upsert), and never again (insert), so shared
//! related rows such as tags are written once per call.
//!
//! Row order (README, "Concurrent imports"): the rows of every batch are sorted by their
//! conflict key (upsert), primary key (insert) or join keys, in the typed order of
//! `cmp_value`, so that every writer locks shared rows in the same order. Generated-key slots
//! and fixups, which index rows, move with their rows.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use foldhash::fast::FixedState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::Value as J;

use crate::changeset::{AssocChange, Changeset};
use crate::schema::{DefaultValue, FieldType, KeyPart, Link, Registry, Schema, Value};

mod conflict;

pub(crate) use conflict::ConflictPolicy;
pub use conflict::{CONFLICT_ACTIONS, ConflictAction, OnConflict};

/// The two verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Existing rows are updated on conflict.
    Upsert,
    /// A row that already exists is an error.
    Insert,
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verb::Upsert => "upsert",
            Verb::Insert => "insert",
        })
    }
}

/// What the planner needs of a call's options: a plain value, built once per call.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// The verb.
    pub(crate) verb: Verb,
    /// What rows do on a conflict.
    pub(crate) conflict: ConflictPolicy,
    /// Per schema index: (field, raw value) of its placeholders.
    pub(crate) placeholders: Vec<Vec<(usize, J)>>,
    /// Per join table: extra (column, value) on every join row.
    pub(crate) join_placeholders: std::collections::BTreeMap<String, Vec<(String, Value)>>,
    /// Nested `belongs_to` rows are written before their owners.
    pub(crate) write_belongs_to: bool,
    /// The prefix of the schemas without their own.
    pub(crate) prefix: Option<String>,
    /// The call's clock reading (`now()` in join defaults).
    pub(crate) clock: chrono::DateTime<chrono::Utc>,
}

/// Whatever a planner can be built from: a [`Policy`], or the resolved options that hold one.
pub(crate) trait IntoPolicy {
    /// The policy.
    fn into_policy(self) -> Arc<Policy>;
}

/// A table as a statement names it: its name, qualified by a prefix (the PostgreSQL schema,
/// the MySQL/MariaDB database, the attached SQLite database) when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableName<'a> {
    /// The prefix, `None` for the connection's current schema/database.
    pub prefix: Option<&'a str>,
    /// The table's name.
    pub name: &'a str,
}

impl<'a> From<&'a str> for TableName<'a> {
    fn from(name: &'a str) -> Self {
        TableName { prefix: None, name }
    }
}

impl std::fmt::Display for TableName<'_> {
    /// `prefix.name`, or `name`: how messages and the summary name the table.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{p}.{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// One column of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The type its values are bound as.
    pub ty: FieldType,
    /// A placeholder column: every row has the same value, which is bound once per
    /// statement where the dialect allows it.
    pub shared: bool,
}

/// The rows of one table reached by one path from the root, for one chunk.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The table written.
    pub table: String,
    /// The prefix the table is qualified with (the PostgreSQL schema, MySQL/MariaDB
    /// database or attached SQLite database), `None` for the connection's current one.
    pub prefix: Option<String>,
    /// Its columns, in the order of each row's values.
    pub columns: Arc<[Column]>,
    /// Conflict handling for its statements.
    pub on_conflict: Arc<OnConflict>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
    /// Cells to fill with keys the database generates for rows written earlier in the chunk:
    /// (row, column, slot).
    pub(crate) fixups: Vec<(usize, usize, u32)>,
    /// Rows whose autogenerated primary key is absent: read back into these slots.
    pub(crate) generated: Option<Generated>,
}

impl Batch {
    /// The table with its prefix, as statements name it.
    pub fn table_name(&self) -> TableName<'_> {
        TableName {
            prefix: self.prefix.as_deref(),
            name: &self.table,
        }
    }

    /// The table as messages and the summary's `rows` name it: `prefix.table` when it has a
    /// prefix, else `table`.
    pub fn display_name(&self) -> String {
        self.table_name().to_string()
    }
}

/// The rows of a batch whose primary key the database generates.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    /// The primary-key column.
    pub(crate) pk: usize,
    /// Per row: the slot its generated key fills (`None`: the row gives its key).
    pub(crate) slots: Vec<Option<u32>>,
    /// Upsert: the conflict-target columns, by which returned keys are matched to rows (an
    /// existing row's key comes back for a conflicting row). Insert: `None`, keys are
    /// matched by every column written (never by position).
    pub(crate) match_cols: Option<Vec<usize>>,
}

#[derive(Debug)]
struct Node {
    table: String,
    prefix: Option<String>,
    /// Join nodes: the values of the columns after the two join keys (placeholders of the
    /// join table, then the association's `join_defaults`).
    extra: Vec<Value>,
    columns: Arc<[Column]>,
    on_conflict: Arc<OnConflict>,
    /// Columns whose values identify a row for de-duplication, if rows are merged.
    dedup: Option<Vec<usize>>,
    /// Columns the rows of each statement are sorted by: the conflict key (upsert), the
    /// primary key (insert), the join keys; `None` for a schema without any.
    order: Option<Vec<usize>>,
    /// Whether this node holds many_to_many related rows (de-duplicated across chunks).
    shared: bool,
    rows: Vec<Vec<Value>>,
    seen: HashMap<Key, usize, FixedState>,
    /// Nodes whose rows must be written before this one's.
    deps: Vec<usize>,
    /// Written after every other node of the chunk: the join rows of a link-only
    /// `many_to_many`, whose related rows may be anywhere in the chunk (or already stored).
    last: bool,
    /// The autogenerated single-column primary key, if the schema has one.
    gen_pk: Option<usize>,
    /// Per row: the slot of its generated key.
    slots: Vec<Option<u32>>,
    /// (row, column, slot) cells filled from generated keys.
    fixups: Vec<(usize, usize, u32)>,
    /// Across chunks (shared nodes): key → hash of the row last sent.
    sent: HashMap<Key, u64, FixedState>,
}

/// Turns valid changesets into batches, chunk after chunk, for one call.
pub(crate) struct Planner {
    registry: Registry,
    options: Arc<Policy>,
    nodes: Vec<Node>,
    /// (parent node, association index, join?) → node
    index: HashMap<(usize, usize, bool), usize, FixedState>,
    /// Whether shared many_to_many rows already sent in an earlier chunk are left out (only
    /// when all chunks share one transaction, so the earlier chunk's rows are visible).
    across_chunks: bool,
    /// Slots of generated keys in the current chunk: slot → the slot it was merged into.
    alias: Vec<u32>,
}

const ROOT: usize = usize::MAX;

impl Planner {
    pub(crate) fn new(registry: Registry, options: impl IntoPolicy, across_chunks: bool) -> Self {
        Planner {
            registry,
            options: options.into_policy(),
            nodes: Vec::new(),
            index: HashMap::default(),
            across_chunks,
            alias: Vec::new(),
        }
    }

    /// Adds one valid root changeset and everything nested in it.
    pub(crate) fn add(&mut self, cs: Changeset) {
        let node = self.schema_node(ROOT, 0, &cs.schema, false);
        self.add_row(node, cs, &[]);
    }

    fn canonical(&self, mut slot: u32) -> u32 {
        while self.alias[slot as usize] != slot {
            slot = self.alias[slot as usize];
        }
        slot
    }

    /// The batches of the chunk, in write order, leaving the planner ready for the next one.
    pub(crate) fn take(&mut self) -> Vec<Batch> {
        let mut out = Vec::new();
        let aliases: Vec<u32> = (0..self.alias.len() as u32)
            .map(|s| self.canonical(s))
            .collect();
        for i in self.write_order() {
            let verb = self.options.verb;
            let across_chunks = self.across_chunks;
            let node = &mut self.nodes[i];
            node.seen.clear();
            // The next chunk's rows likely number as many: no regrowing from empty.
            let capacity = node.rows.len();
            let mut rows = std::mem::replace(&mut node.rows, Vec::with_capacity(capacity));
            let mut slots = std::mem::take(&mut node.slots);
            let mut fixups = std::mem::take(&mut node.fixups);
            for f in &mut fixups {
                f.2 = aliases[f.2 as usize];
            }
            let mut keep: Option<Vec<bool>> = None;
            if node.shared
                && across_chunks
                && let Some(key_cols) = &node.dedup
            {
                keep = Some(
                    rows.iter()
                        .map(|row| {
                            let Some(key) = key_of(row, key_cols) else {
                                return true;
                            };
                            let h = row_hash(row);
                            match node.sent.get(&key) {
                                Some(_) if verb == Verb::Insert => false,
                                Some(prev) if *prev == h => false,
                                _ => {
                                    node.sent.insert(key, h);
                                    true
                                }
                            }
                        })
                        .collect(),
                );
            }
            // Every statement takes its row locks in conflict-key order, so two writers that
            // share rows (tags) — concurrent chunks, or concurrent calls — wait for each other
            // instead of deadlocking. The sort is stable: rows with equal keys (NULL keys, the
            // rows whose key the database generates) keep their input order.
            let mut order: Vec<usize> = (0..rows.len()).collect();
            if let Some(keep) = &keep {
                // A row whose key the database generates is always sent: its children need
                // the key back in this chunk.
                order.retain(|&r| keep[r] || slots.get(r).copied().flatten().is_some());
            }
            if let Some(key_cols) = &node.order {
                sort_rows(&mut order, &rows, key_cols);
            }
            if order.len() != rows.len() || order.iter().enumerate().any(|(i, &r)| i != r) {
                let mut new_index = vec![usize::MAX; rows.len()];
                for (i, &r) in order.iter().enumerate() {
                    new_index[r] = i;
                }
                let mut old: Vec<Option<Vec<Value>>> = rows.into_iter().map(Some).collect();
                rows = order.iter().filter_map(|&r| old[r].take()).collect();
                if !slots.is_empty() {
                    slots = order.iter().map(|&r| slots[r]).collect();
                }
                fixups.retain_mut(|f| {
                    f.0 = new_index[f.0];
                    f.0 != usize::MAX
                });
            }
            if !rows.is_empty() {
                let generated = match node.gen_pk {
                    Some(pk) if slots.iter().any(Option::is_some) => Some(Generated {
                        pk,
                        slots: slots
                            .iter()
                            .map(|s| s.map(|s| aliases[s as usize]))
                            .collect(),
                        // Returned keys are matched by a natural conflict target (upsert), else by
                        // every value the row writes (the executor never trusts their order).
                        match_cols: match verb {
                            Verb::Upsert => node.dedup.clone().filter(|cols| !cols.contains(&pk)),
                            Verb::Insert => None,
                        },
                    }),
                    _ => None,
                };
                out.push(Batch {
                    table: node.table.clone(),
                    prefix: node.prefix.clone(),
                    columns: Arc::clone(&node.columns),
                    on_conflict: Arc::clone(&node.on_conflict),
                    rows,
                    fixups,
                    generated,
                });
            }
        }
        self.alias.clear();
        out
    }

    /// Node indices with every node after the nodes it depends on (creation order among
    /// the ready ones), the `last` nodes after all others.
    fn write_order(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        let rest = self.nodes.iter().filter(|node| !node.last).count();
        while order.len() < n {
            let before = order.len();
            // Nothing depends on a `last` node: they wait until the others are ordered.
            let last_ready = order.len() >= rest;
            for i in 0..n {
                if !done[i]
                    && (last_ready || !self.nodes[i].last)
                    && self.nodes[i].deps.iter().all(|&d| done[d])
                {
                    done[i] = true;
                    order.push(i);
                }
            }
            if order.len() == before {
                // A cycle (self-referencing belongs_to): keep creation order for the rest,
                // the `last` nodes after the others.
                order.extend((0..n).filter(|&i| !done[i] && !self.nodes[i].last));
                order.extend((0..n).filter(|&i| !done[i] && self.nodes[i].last));
                break;
            }
        }
        order
    }

    /// The node of the related schema `related` (a registry index) under `parent`'s
    /// association `assoc`: found without touching the schema's handle, made on first use.
    fn related_node(&mut self, parent: usize, assoc: usize, related: usize, shared: bool) -> usize {
        match self.index.get(&(parent, assoc, false)) {
            Some(&n) => n,
            None => {
                let related = Arc::clone(self.registry.at(related));
                self.schema_node(parent, assoc, &related, shared)
            }
        }
    }

    fn schema_node(
        &mut self,
        parent: usize,
        assoc: usize,
        schema: &Arc<Schema>,
        shared: bool,
    ) -> usize {
        if let Some(&n) = self.index.get(&(parent, assoc, false)) {
            return n;
        }
        let placeholders = self
            .options
            .placeholders
            .get(schema.index)
            .map_or(&[][..], Vec::as_slice);
        let columns: Arc<[Column]> = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| Column {
                name: f.column.clone(),
                ty: f.ty.clone(),
                shared: placeholders.iter().any(|(p, _)| *p == i),
            })
            .collect();
        let (on_conflict, target) = self.options.conflict.for_schema(schema);
        let primary_key = Some(schema.primary_key.clone()).filter(|k| !k.is_empty());
        let (dedup, order) = match self.options.verb {
            Verb::Upsert => (target.clone(), target),
            Verb::Insert if shared => (primary_key.clone(), primary_key),
            Verb::Insert => (None, primary_key),
        };
        let deps = if parent != ROOT && !shared {
            vec![parent]
        } else {
            Vec::new()
        };
        let gen_pk = match schema.primary_key.as_slice() {
            [pk] if schema.fields[*pk].autogenerate => Some(*pk),
            _ => None,
        };
        self.push_node(
            (parent, assoc, false),
            Node {
                deps,
                last: false,
                gen_pk,
                slots: Vec::new(),
                fixups: Vec::new(),
                table: schema.table().to_string(),
                prefix: self.prefix_of(schema),
                extra: Vec::new(),
                columns,
                on_conflict: Arc::new(on_conflict),
                dedup,
                order,
                shared,
                rows: Vec::new(),
                seen: HashMap::default(),
                sent: HashMap::default(),
            },
        )
    }

    /// The prefix a schema's table is written in: its own, else the call's.
    fn prefix_of(&self, schema: &Schema) -> Option<String> {
        schema
            .prefix
            .clone()
            .or_else(|| self.options.prefix.clone())
    }

    fn join_node(
        &mut self,
        parent: usize,
        assoc: usize,
        table: &str,
        cols: [(&str, FieldType); 2],
        defaults: &[(String, DefaultValue)],
        last: bool,
    ) -> usize {
        if let Some(&n) = self.index.get(&(parent, assoc, true)) {
            return n;
        }
        // Placeholders of the join table win over the association's `join_defaults`.
        let mut extra: Vec<(String, Value)> = self
            .options
            .join_placeholders
            .get(table)
            .cloned()
            .unwrap_or_default();
        for (column, default) in defaults {
            if extra.iter().any(|(c, _)| c == column) {
                continue;
            }
            let value = match default {
                DefaultValue::Value(v) => v.clone(),
                DefaultValue::Now => Value::UtcDateTime(self.options.clock),
            };
            extra.push((column.clone(), value));
        }
        let columns: Arc<[Column]> = cols
            .iter()
            .map(|(name, ty)| Column {
                name: name.to_string(),
                ty: ty.clone(),
                shared: false,
            })
            .chain(extra.iter().map(|(name, v)| Column {
                name: name.clone(),
                ty: type_of(v),
                shared: true,
            }))
            .collect();
        // A join table follows its owner's prefix.
        let prefix = if parent == ROOT {
            None
        } else {
            self.nodes[parent].prefix.clone()
        };
        let names = [cols[0].0.to_string(), cols[1].0.to_string()];
        let on_conflict = self.options.conflict.for_join(table, &names);
        let related = self.index.get(&(parent, assoc, false)).copied();
        self.push_node(
            (parent, assoc, true),
            Node {
                deps: std::iter::once(parent).chain(related).collect(),
                last,
                gen_pk: None,
                slots: Vec::new(),
                fixups: Vec::new(),
                table: table.to_string(),
                prefix,
                extra: extra.into_iter().map(|(_, v)| v).collect(),
                columns,
                on_conflict: Arc::new(on_conflict),
                dedup: Some(vec![0, 1]),
                order: Some(vec![0, 1]),
                shared: false,
                rows: Vec::new(),
                seen: HashMap::default(),
                sent: HashMap::default(),
            },
        )
    }

    fn push_node(&mut self, key: (usize, usize, bool), node: Node) -> usize {
        let n = self.nodes.len();
        self.nodes.push(node);
        self.index.insert(key, n);
        n
    }

    /// Pushes `row` into `node`, merging it with an earlier row of the same key; returns the
    /// row's index and the slot of its generated key (after a merge, the earlier row's).
    fn push_row(
        &mut self,
        node: usize,
        row: Vec<Value>,
        slot: Option<u32>,
    ) -> (usize, Option<u32>) {
        let n = &mut self.nodes[node];
        if let Some(key_cols) = &n.dedup
            && let Some(key) = key_of(&row, key_cols)
        {
            // One hash lookup, whether the key is new or not.
            match n.seen.entry(key) {
                Entry::Occupied(seen) => {
                    let at = *seen.get();
                    n.rows[at] = row;
                    let kept = n.slots.get(at).copied().flatten();
                    if let (Some(new), Some(old)) = (slot, kept) {
                        self.alias[new as usize] = old;
                    }
                    return (at, kept.or(slot));
                }
                Entry::Vacant(new) => {
                    new.insert(n.rows.len());
                }
            }
        }
        if slot.is_some() || !n.slots.is_empty() {
            n.slots.resize(n.rows.len(), None);
            n.slots.push(slot);
        }
        n.rows.push(row);
        (n.rows.len() - 1, slot)
    }

    /// Builds the row of `cs` into `node`, then its children into theirs.
    ///
    /// `inherited` are (column, slot) cells of this row that take a key the database
    /// generates for a parent. Returns the row's index and the slot of its own generated key.
    fn add_row(
        &mut self,
        node: usize,
        cs: Changeset,
        inherited: &[(usize, u32)],
    ) -> (usize, Option<u32>) {
        // The changeset is taken apart, not borrowed: its schema handle moves out instead of
        // being cloned (two atomic reference-count updates per row, measured hot).
        let Changeset {
            schema,
            mut changes,
            mut assocs,
            ..
        } = cs;
        // Embeds are stored inline.
        for (ai, change) in &mut assocs {
            if let Link::Embed { field } = schema.assocs[*ai].link {
                let json = match std::mem::replace(change, AssocChange::Many(Vec::new())) {
                    AssocChange::One(None) => J::Null,
                    AssocChange::One(Some(c)) => embed_json(*c),
                    AssocChange::Many(cs) => J::Array(cs.into_iter().map(embed_json).collect()),
                };
                changes[field] = Some(if json.is_null() {
                    Value::Null
                } else {
                    Value::Json(json)
                });
            }
        }
        let mut row = take_row(&schema, changes);
        let gen_pk = self.nodes[node].gen_pk;
        let own_slot = match gen_pk {
            Some(pk) if row[pk].is_null() => {
                let s = self.alias.len() as u32;
                self.alias.push(s);
                Some(s)
            }
            _ => None,
        };
        let slot_of = |field: usize| own_slot.filter(|_| gen_pk == Some(field));
        let mut own_fixups: Vec<(usize, u32)> = inherited.to_vec();
        for (ai, change) in assocs {
            let assoc = &schema.assocs[ai];
            let children = match change {
                AssocChange::One(None) => continue,
                AssocChange::One(Some(c)) => vec![*c],
                AssocChange::Many(cs) => cs,
            };
            let Some(related) = assoc.related else {
                continue; // `through`: never cast
            };
            match &assoc.link {
                Link::Child { fk, references } => {
                    let child_node = self.related_node(node, ai, related, false);
                    let inherit: Vec<(usize, u32)> =
                        slot_of(*references).map(|s| (*fk, s)).into_iter().collect();
                    for child in children {
                        self.add_row(child_node, child, &inherit);
                    }
                }
                Link::Join {
                    table,
                    owner_column,
                    owner_ref,
                    related_column,
                    related_ref,
                    defaults,
                    write_related,
                } => {
                    // Link-only: no related rows, only the join rows.
                    let related_node =
                        write_related.then(|| self.related_node(node, ai, related, true));
                    let join = match self.index.get(&(node, ai, true)) {
                        Some(&n) => n,
                        None => {
                            let related = Arc::clone(self.registry.at(related));
                            let cols = [
                                (owner_column.as_str(), schema.fields[*owner_ref].ty.clone()),
                                (
                                    related_column.as_str(),
                                    related.fields[*related_ref].ty.clone(),
                                ),
                            ];
                            self.join_node(node, ai, table, cols, defaults, !write_related)
                        }
                    };
                    let owner_key = row[*owner_ref].clone();
                    let owner_slot = slot_of(*owner_ref);
                    let related_ref = *related_ref;
                    let mut links = Vec::with_capacity(children.len());
                    for child in children {
                        let related_key = child.value(related_ref).clone();
                        let related_slot = related_node.and_then(|n| {
                            let related_gen = self.nodes[n].gen_pk == Some(related_ref);
                            let (_, child_slot) = self.add_row(n, child, &[]);
                            child_slot.filter(|_| related_gen)
                        });
                        links.push((
                            vec![owner_key.clone(), related_key],
                            owner_slot,
                            related_slot,
                        ));
                    }
                    let extra = self.nodes[join].extra.clone();
                    for (mut link, owner_slot, related_slot) in links {
                        link.extend(extra.iter().cloned());
                        let (at, _) = self.push_row(join, link, None);
                        let fixups = &mut self.nodes[join].fixups;
                        fixups.extend(owner_slot.map(|s| (at, 0, s)));
                        fixups.extend(related_slot.map(|s| (at, 1, s)));
                    }
                }
                // write_belongs_to: the related row is written before the owner's node, and
                // the owner's foreign key is taken from it.
                Link::Parent { fk, references } if self.options.write_belongs_to => {
                    let parent_node = self.related_node(node, ai, related, true);
                    if !self.nodes[node].deps.contains(&parent_node) {
                        self.nodes[node].deps.push(parent_node);
                    }
                    let related_gen = self.nodes[parent_node].gen_pk == Some(*references);
                    for child in children {
                        row[*fk] = child.value(*references).clone();
                        let (_, child_slot) = self.add_row(parent_node, child, &[]);
                        if let Some(s) = child_slot.filter(|_| related_gen) {
                            own_fixups.push((*fk, s));
                        }
                    }
                }
                // Otherwise nested belongs_to data is not written; its foreign key rides on
                // the owner.
                Link::Parent { .. } | Link::Embed { .. } | Link::Through(_) => {}
            }
        }
        // The row must precede its children in the node order, not in the row order: nodes
        // are written one after the other, so pushing the parent row last is fine.
        let (at, slot) = self.push_row(node, row, own_slot);
        let fixups = &mut self.nodes[node].fixups;
        fixups.extend(own_fixups.into_iter().map(|(col, s)| (at, col, s)));
        (at, slot)
    }
}

/// The row values of a changeset's changes: the change, else the field's default.
fn take_row(schema: &Schema, changes: Vec<Option<Value>>) -> Vec<Value> {
    // Reuses the changes' allocation (Option<Value> and Value have the same layout).
    changes
        .into_iter()
        .zip(schema.fields.iter())
        .map(|(c, f)| c.unwrap_or_else(|| f.default.clone()))
        .collect()
}

/// An embedded changeset as the JSON stored in its owner's column: every field (by column
/// name), nested embeds included.
fn embed_json(cs: Changeset) -> J {
    let Changeset {
        schema,
        changes,
        assocs,
        ..
    } = cs;
    let mut nested: HashMap<usize, J, FixedState> = HashMap::default();
    for (ai, change) in assocs {
        if let Link::Embed { field } = schema.assocs[ai].link {
            let json = match change {
                AssocChange::One(None) => J::Null,
                AssocChange::One(Some(c)) => embed_json(*c),
                AssocChange::Many(cs) => J::Array(cs.into_iter().map(embed_json).collect()),
            };
            nested.insert(field, json);
        }
    }
    let row = take_row(&schema, changes);
    let mut out = serde_json::Map::with_capacity(row.len());
    for (i, (f, v)) in schema.fields.iter().zip(row).enumerate() {
        let json = nested.remove(&i).unwrap_or_else(|| v.to_json());
        out.insert(f.column.clone(), json);
    }
    J::Object(out)
}

/// Sorts `order` (row indices, ascending) by the rows' key columns `cols` as a stable sort by
/// [`cmp_key`] does. Keys of one or two integer columns in every row (the common case) are
/// sorted as plain numbers, each paired with its row index so that rows with equal keys keep
/// their input order: the same order, without comparing `Value`s.
fn sort_rows(order: &mut [usize], rows: &[Vec<Value>], cols: &[usize]) {
    let int = |r: usize, c: usize| match rows[r][c] {
        Value::Int(i) => Some(i),
        _ => None,
    };
    let keyed: Option<Vec<(i64, i64, usize)>> = match *cols {
        [c] => order.iter().map(|&r| Some((int(r, c)?, 0, r))).collect(),
        [c, d] => order
            .iter()
            .map(|&r| Some((int(r, c)?, int(r, d)?, r)))
            .collect(),
        _ => None,
    };
    match keyed {
        Some(mut keyed) => {
            keyed.sort_unstable();
            for (slot, (_, _, r)) in order.iter_mut().zip(keyed) {
                *slot = r;
            }
        }
        None => order.sort_by(|&a, &b| cmp_key(&rows[a], &rows[b], cols)),
    }
}

/// Orders rows by their key columns, column after column, each by [`cmp_value`].
fn cmp_key(a: &[Value], b: &[Value], cols: &[usize]) -> Ordering {
    cols.iter()
        .map(|&c| cmp_value(&a[c], &b[c]))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// A total, deterministic order of key values, the same in every process, by type: numbers
/// numerically (integers, floats by IEEE total order, decimals), text and bytes bytewise,
/// UUIDs by their bytes, dates and times chronologically, booleans false first, arrays
/// element by element, JSON by its text. `NULL` sorts first; values of different types sort
/// by type. Any fixed total order keeps concurrent writers' locks in one order; this one
/// follows the databases' own index order for numbers, UUIDs and timestamps.
fn cmp_value(a: &Value, b: &Value) -> Ordering {
    use Value as V;
    match (a, b) {
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Float(x), V::Float(y)) => x.total_cmp(y),
        (V::Decimal(x), V::Decimal(y)) => x.cmp(y),
        (V::String(x), V::String(y)) => x.cmp(y),
        (V::Bytes(x), V::Bytes(y)) => x.cmp(y),
        (V::Uuid(x), V::Uuid(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Date(x), V::Date(y)) => x.cmp(y),
        (V::Time(x), V::Time(y)) => x.cmp(y),
        (V::NaiveDateTime(x), V::NaiveDateTime(y)) => x.cmp(y),
        (V::UtcDateTime(x), V::UtcDateTime(y)) => x.cmp(y),
        (V::Array(x), V::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(x, y)| cmp_value(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (V::Json(x), V::Json(y)) => x.to_string().cmp(&y.to_string()),
        (V::Null, V::Null) => Ordering::Equal,
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// The place of a value's type in [`cmp_value`]'s order of values of different types.
fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::Decimal(_) => 4,
        Value::String(_) => 5,
        Value::Bytes(_) => 6,
        Value::Uuid(_) => 7,
        Value::Date(_) => 8,
        Value::Time(_) => 9,
        Value::NaiveDateTime(_) => 10,
        Value::UtcDateTime(_) => 11,
        Value::Array(_) => 12,
        Value::Json(_) => 13,
    }
}

/// The field type a join-table placeholder or `join_defaults` value is bound as (and the
/// type of the join-table column `crate::ddl` creates for it).
pub(crate) fn type_of(v: &Value) -> FieldType {
    match v {
        Value::Bool(_) => FieldType::Boolean,
        Value::Int(_) => FieldType::Integer,
        Value::Float(_) => FieldType::Float,
        Value::UtcDateTime(_) => FieldType::UtcDatetimeUsec,
        Value::Json(_) => FieldType::Map,
        _ => FieldType::String,
    }
}

/// A row's conflict key: a single integer (the common case, no allocation) or its parts.
/// The one identity of a row by its key columns: in-call de-duplication, and matching the
/// keys a database returns to the rows that asked for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Int(i64),
    /// Two integer columns (join rows): no allocation either.
    Int2(i64, i64),
    Parts(Vec<KeyPart>),
}

/// The key of `row` in the columns `cols`; `None` when one of them is `NULL` (NULLs never
/// conflict).
pub(crate) fn key_of(row: &[Value], cols: &[usize]) -> Option<Key> {
    match *cols {
        [c] => {
            return match &row[c] {
                Value::Null => None,
                Value::Int(i) => Some(Key::Int(*i)),
                v => Some(Key::Parts(vec![KeyPart::from(v)])),
            };
        }
        [c, d] => {
            if let (Value::Int(a), Value::Int(b)) = (&row[c], &row[d]) {
                return Some(Key::Int2(*a, *b));
            }
        }
        _ => {}
    }
    let mut key = Vec::with_capacity(cols.len());
    for &c in cols {
        let v = &row[c];
        if v.is_null() {
            return None;
        }
        key.push(KeyPart::from(v));
    }
    Some(Key::Parts(key))
}

fn row_hash(row: &[Value]) -> u64 {
    let mut h = FixedState::with_seed(0).build_hasher();
    for v in row {
        KeyPart::from(v).hash(&mut h);
    }
    h.finish()
}
