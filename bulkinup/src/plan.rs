//! Planning: flatten valid changesets into per-table row batches in write order,
//! de-duplicated.
//!
//! Each place a table is reached from the root (the root schema, `Author.posts`,
//! `Author.posts.tags`, the `posts_tags` join rows, …) is a *node*. Nodes are created the first
//! time a row reaches them, so a node is always created after the node of its parent rows,
//! and a join node after the node of its related rows: node order is a valid write order
//! (parents before children, related rows before join rows), at any depth, even for
//! self-referencing schemas.
//!
//! De-duplication (SPEC §3.5, §3.7), per node and per chunk:
//! - upsert: rows sharing a conflict key are merged, the last occurrence wins, in the place
//!   of the first;
//! - insert: only `many_to_many` related rows (by primary key) and join rows are merged;
//! - join rows are always merged (a duplicate link is written once);
//! - rows with a `NULL` in their key are never merged (NULLs never conflict).
//!
//! Across the chunks of one call, a `many_to_many` related row is sent again only when it
//! differs from the version already sent (upsert), and never again (insert), so shared
//! related rows such as tags are written once per call.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::Value as J;

use crate::changeset::{AssocChange, Changeset};
use crate::options::{ResolvedOptions, Verb};
use crate::schema::{FieldType, KeyPart, Link, Registry, Schema, Value};

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

/// What a batch's statements do on a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OnConflict {
    /// No conflict clause: a conflicting row is a database error (insert, `raise`).
    Raise,
    /// `ON CONFLICT (target) DO NOTHING` (MySQL: an update of the key to itself).
    Nothing {
        /// The conflict target columns.
        target: Vec<String>,
    },
    /// `ON CONFLICT (target) DO UPDATE SET c = EXCLUDED.c` for each column of `set`.
    Update {
        /// The conflict target columns.
        target: Vec<String>,
        /// The columns replaced from the new row.
        set: Vec<String>,
    },
}

/// The rows of one table reached by one path from the root, for one chunk.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The table written.
    pub table: String,
    /// Its columns, in the order of each row's values.
    pub columns: Arc<[Column]>,
    /// Conflict handling for its statements.
    pub on_conflict: Arc<OnConflict>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug)]
struct Node {
    table: String,
    columns: Arc<[Column]>,
    on_conflict: Arc<OnConflict>,
    /// Columns whose values identify a row for de-duplication, if rows are merged.
    dedup: Option<Vec<usize>>,
    /// Whether this node holds many_to_many related rows (de-duplicated across chunks).
    shared: bool,
    rows: Vec<Vec<Value>>,
    seen: HashMap<Key, usize, FixedState>,
    /// Nodes whose rows must be written before this one's.
    deps: Vec<usize>,
    /// Across chunks (shared nodes): key → hash of the row last sent.
    sent: HashMap<Key, u64, FixedState>,
}

/// Turns valid changesets into batches, chunk after chunk, for one call.
pub(crate) struct Planner {
    registry: Registry,
    options: Arc<ResolvedOptions>,
    nodes: Vec<Node>,
    /// (parent node, association index, join?) → node
    index: HashMap<(usize, usize, bool), usize>,
    /// Whether shared many_to_many rows already sent in an earlier chunk are left out (only
    /// when all chunks share one transaction, so the earlier chunk's rows are visible).
    across_chunks: bool,
}

const ROOT: usize = usize::MAX;

impl Planner {
    pub(crate) fn new(
        registry: Registry,
        options: Arc<ResolvedOptions>,
        across_chunks: bool,
    ) -> Self {
        Planner {
            registry,
            options,
            nodes: Vec::new(),
            index: HashMap::new(),
            across_chunks,
        }
    }

    /// Adds one valid root changeset and everything nested in it.
    pub(crate) fn add(&mut self, cs: Changeset) {
        let node = self.schema_node(ROOT, 0, &cs.schema, false);
        self.add_row(node, cs);
    }

    /// The batches of the chunk, in write order, leaving the planner ready for the next one.
    pub(crate) fn take(&mut self) -> Vec<Batch> {
        let mut out = Vec::new();
        for i in self.write_order() {
            let node = &mut self.nodes[i];
            node.seen.clear();
            let mut rows = std::mem::take(&mut node.rows);
            if node.shared
                && self.across_chunks
                && let Some(key_cols) = &node.dedup
            {
                let verb = self.options.verb;
                rows.retain(|row| {
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
                });
            }
            // Chunks written concurrently take their row locks in conflict-key order, so two
            // chunks that share rows (tags) wait for each other instead of deadlocking.
            if !self.across_chunks
                && let Some(key_cols) = &node.dedup
            {
                rows.sort_by(|a, b| cmp_key(a, b, key_cols));
            }
            if !rows.is_empty() {
                out.push(Batch {
                    table: node.table.clone(),
                    columns: Arc::clone(&node.columns),
                    on_conflict: Arc::clone(&node.on_conflict),
                    rows,
                });
            }
        }
        out
    }

    /// Node indices with every node after the nodes it depends on (creation order among
    /// the ready ones).
    fn write_order(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let before = order.len();
            for i in 0..n {
                if !done[i] && self.nodes[i].deps.iter().all(|&d| done[d]) {
                    done[i] = true;
                    order.push(i);
                }
            }
            if order.len() == before {
                // A cycle (self-referencing belongs_to): keep creation order for the rest.
                order.extend((0..n).filter(|&i| !done[i]));
                break;
            }
        }
        order
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
        let (on_conflict, target) = self.options.conflict_for_schema(schema);
        let dedup = match self.options.verb {
            Verb::Upsert => target,
            Verb::Insert if shared => Some(schema.primary_key.clone()).filter(|k| !k.is_empty()),
            Verb::Insert => None,
        };
        let deps = if parent != ROOT && !shared {
            vec![parent]
        } else {
            Vec::new()
        };
        self.push_node(
            (parent, assoc, false),
            Node {
                deps,
                table: schema.table().to_string(),
                columns,
                on_conflict: Arc::new(on_conflict),
                dedup,
                shared,
                rows: Vec::new(),
                seen: HashMap::default(),
                sent: HashMap::default(),
            },
        )
    }

    fn join_node(
        &mut self,
        parent: usize,
        assoc: usize,
        table: &str,
        cols: [(&str, FieldType); 2],
    ) -> usize {
        if let Some(&n) = self.index.get(&(parent, assoc, true)) {
            return n;
        }
        let extra = self
            .options
            .join_placeholders
            .get(table)
            .map_or(&[][..], Vec::as_slice);
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
        let names = [cols[0].0.to_string(), cols[1].0.to_string()];
        let on_conflict = self.options.conflict_for_join(table, &names);
        let related = self.index.get(&(parent, assoc, false)).copied();
        self.push_node(
            (parent, assoc, true),
            Node {
                deps: std::iter::once(parent).chain(related).collect(),
                table: table.to_string(),
                columns,
                on_conflict: Arc::new(on_conflict),
                dedup: Some(vec![0, 1]),
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

    /// Pushes `row` into `node`, merging it with an earlier row of the same key.
    fn push_row(&mut self, node: usize, row: Vec<Value>) {
        let n = &mut self.nodes[node];
        if let Some(key_cols) = &n.dedup
            && let Some(key) = key_of(&row, key_cols)
        {
            if let Some(&at) = n.seen.get(&key) {
                n.rows[at] = row;
                return;
            }
            n.seen.insert(key, n.rows.len());
        }
        n.rows.push(row);
    }

    /// Builds the row of `cs` into `node`, then its children into theirs.
    fn add_row(&mut self, node: usize, mut cs: Changeset) {
        let schema = Arc::clone(&cs.schema);
        let mut assocs = std::mem::take(&mut cs.assocs);
        // Embeds are stored inline.
        for (ai, change) in &mut assocs {
            if let Link::Embed { field } = schema.assocs[*ai].link {
                let json = match std::mem::replace(change, AssocChange::Many(Vec::new())) {
                    AssocChange::One(None) => J::Null,
                    AssocChange::One(Some(c)) => embed_json(*c),
                    AssocChange::Many(cs) => J::Array(cs.into_iter().map(embed_json).collect()),
                };
                cs.changes[field] = Some(if json.is_null() {
                    Value::Null
                } else {
                    Value::Json(json)
                });
            }
        }
        let mut row = take_row(&mut cs);
        for (ai, change) in assocs {
            let assoc = &schema.assocs[ai];
            let children = match change {
                AssocChange::One(None) => continue,
                AssocChange::One(Some(c)) => vec![*c],
                AssocChange::Many(cs) => cs,
            };
            let related = Arc::clone(self.registry.at(assoc.related));
            match &assoc.link {
                Link::Child { .. } => {
                    let child_node = self.schema_node(node, ai, &related, false);
                    for child in children {
                        self.add_row(child_node, child);
                    }
                }
                Link::Join {
                    table,
                    owner_column,
                    owner_ref,
                    related_column,
                    related_ref,
                } => {
                    let related_node = self.schema_node(node, ai, &related, true);
                    let cols = [
                        (owner_column.as_str(), schema.fields[*owner_ref].ty.clone()),
                        (
                            related_column.as_str(),
                            related.fields[*related_ref].ty.clone(),
                        ),
                    ];
                    let join = self.join_node(node, ai, table, cols);
                    let owner_key = row[*owner_ref].clone();
                    let (related_ref, related_pk) = (*related_ref, related.primary_key.clone());
                    let mut links = Vec::with_capacity(children.len());
                    for child in children {
                        let related_key = child.value(related_ref).clone();
                        debug_assert!(related_pk.iter().all(|&i| i < child.changes.len()));
                        self.add_row(related_node, child);
                        links.push(vec![owner_key.clone(), related_key]);
                    }
                    let extra: Vec<Value> = self
                        .options
                        .join_placeholders
                        .get(table.as_str())
                        .map(|cols| cols.iter().map(|(_, v)| v.clone()).collect())
                        .unwrap_or_default();
                    for mut link in links {
                        link.extend(extra.iter().cloned());
                        self.push_row(join, link);
                    }
                }
                // write_belongs_to: the related row is written before the owner's node, and
                // the owner's foreign key is taken from it.
                Link::Parent { fk, references } if self.options.options.write_belongs_to => {
                    let parent_node = self.schema_node(node, ai, &related, true);
                    if !self.nodes[node].deps.contains(&parent_node) {
                        self.nodes[node].deps.push(parent_node);
                    }
                    for child in children {
                        row[*fk] = child.value(*references).clone();
                        self.add_row(parent_node, child);
                    }
                }
                // Otherwise nested belongs_to data is not written; its foreign key rides on
                // the owner.
                Link::Parent { .. } | Link::Embed { .. } | Link::Through(_) => {}
            }
        }
        self.push_row(node, row);
        // The row must precede its children in the node order, not in the row order: nodes
        // are written one after the other, so pushing the parent row last is fine.
    }
}

/// Moves the row values out of a changeset: the change, else the field's default.
fn take_row(cs: &mut Changeset) -> Vec<Value> {
    let schema = &cs.schema;
    // Reuses the changes' allocation (Option<Value> and Value have the same layout).
    std::mem::take(&mut cs.changes)
        .into_iter()
        .zip(schema.fields.iter())
        .map(|(c, f)| c.unwrap_or_else(|| f.default.clone()))
        .collect()
}

/// An embedded changeset as the JSON stored in its owner's column: every field (by column
/// name), nested embeds included.
fn embed_json(mut cs: Changeset) -> J {
    let schema = Arc::clone(&cs.schema);
    let assocs = std::mem::take(&mut cs.assocs);
    let mut nested: HashMap<usize, J> = HashMap::new();
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
    let row = take_row(&mut cs);
    let mut out = serde_json::Map::with_capacity(row.len());
    for (i, (f, v)) in schema.fields.iter().zip(row).enumerate() {
        let json = nested.remove(&i).unwrap_or_else(|| v.to_json());
        out.insert(f.column.clone(), json);
    }
    J::Object(out)
}

/// Orders rows by their key columns (integers numerically, anything else by its JSON text).
fn cmp_key(a: &[Value], b: &[Value], cols: &[usize]) -> std::cmp::Ordering {
    cols.iter()
        .map(|&c| match (&a[c], &b[c]) {
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (x, y) => x.to_json().to_string().cmp(&y.to_json().to_string()),
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The field type a join-table placeholder value is bound as.
fn type_of(v: &Value) -> FieldType {
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Parts(Vec<KeyPart>),
}

fn key_of(row: &[Value], cols: &[usize]) -> Option<Key> {
    if let [c] = cols {
        return match &row[*c] {
            Value::Null => None,
            Value::Int(i) => Some(Key::Int(*i)),
            v => Some(Key::Parts(vec![KeyPart::from(v)])),
        };
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
