//! Changesets: cast the permitted keys of an item's attrs, run the validations, and cast the
//! nested associations and embeds into child changesets, keeping an error tree.
//!
//! This follows Ecto: keys not permitted by `cast` are ignored, `""` counts as null, a value
//! that cannot be cast gives `is invalid`, validations run only on values that were cast
//! (`required` on missing or blank ones), and an invalid child makes its parent invalid.
//!
//! ```
//! use bulkinup::{Changeset, ChangesetDef, FieldType, Registry, SchemaDef};
//! use serde_json::json;
//!
//! let registry = Registry::builder()
//!     .schema(
//!         SchemaDef::new("Tag").source("tags")
//!             .field("id", FieldType::Integer)
//!             .field("name", FieldType::String)
//!             .changeset("changeset", ChangesetDef::new().cast(["id", "name"]).required(["id", "name"])),
//!     )
//!     .build()?;
//! let cs = Changeset::cast(&registry, "Tag", "changeset", &json!({"id": "7", "name": ""}))?;
//! assert!(!cs.is_valid());
//! assert_eq!(cs.errors_json(), json!({"name": ["can't be blank"]}));
//! # Ok::<(), bulkinup::Error>(())
//! ```

mod cast;
mod shape;

use std::fmt;
use std::sync::Arc;

use serde_json::Value as J;

pub(crate) use cast::cast_value;

use crate::error::Result;
use crate::schema::{
    DefaultValue, FieldType, LengthRule, Link, NumberRule, Registry, Required, Rule, Schema, Value,
};

/// One validation error on one field (or association) of a changeset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field or association name.
    pub field: String,
    /// Ecto's message, with its values filled in (`should be at least 3 character(s)`).
    pub message: String,
}

/// The cast children of one association or embed.
#[derive(Debug, Clone)]
pub enum AssocChange {
    /// `has_one`, `belongs_to`, `embeds_one`: one child, or none (`null`).
    One(Option<Box<Changeset>>),
    /// `has_many`, `many_to_many`, `embeds_many`: the children in input order.
    Many(Vec<Changeset>),
}

/// The result of casting and validating one map of attrs with one schema's changeset.
#[derive(Clone)]
pub struct Changeset {
    pub(crate) schema: Arc<Schema>,
    /// Per field of the schema: `Some` when the attrs gave it (possibly null).
    pub(crate) changes: Vec<Option<Value>>,
    /// Cast associations and embeds: (association index, children).
    pub(crate) assocs: Vec<(usize, AssocChange)>,
    pub(crate) errors: Vec<FieldError>,
    pub(crate) valid: bool,
}

impl fmt::Debug for Changeset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changeset")
            .field("schema", &self.schema.name)
            .field("changes", &self.changes_json())
            .field("errors", &self.errors)
            .field("valid", &self.valid)
            .finish()
    }
}

impl Changeset {
    /// Casts `attrs` with the changeset `changeset` of schema `schema` (recursively through
    /// `cast_assoc`/`cast_embed`) and runs its validations.
    ///
    /// # Errors
    /// Only when the schema or changeset does not exist. Invalid attrs are not an error: they
    /// give an invalid changeset.
    pub fn cast(registry: &Registry, schema: &str, changeset: &str, attrs: &J) -> Result<Self> {
        let si = registry.index(schema)?;
        let s = registry.at(si);
        s.resolved_changeset(changeset)?;
        Ok(cast_with(
            registry,
            s,
            changeset,
            attrs,
            &CastCtx::default(),
            None,
            &[],
            &[],
        ))
    }

    /// The schema's name.
    pub fn schema_name(&self) -> &str {
        &self.schema.name
    }

    /// Whether this changeset and all its children are valid.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// The cast value of a field, if the attrs gave it.
    pub fn get_change(&self, field: &str) -> Option<&Value> {
        let i = *self.schema.field_index.get(field)?;
        self.changes[i].as_ref()
    }

    /// Sets (or replaces) the value of a field. Unknown fields are ignored.
    pub fn put_change(&mut self, field: &str, value: Value) {
        if let Some(&i) = self.schema.field_index.get(field) {
            self.changes[i] = Some(value);
        }
    }

    /// Adds an error on a field and marks the changeset invalid.
    pub fn add_error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
        self.valid = false;
    }

    /// This changeset's own errors (not its children's).
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The cast children of an association or embed, if it was cast.
    pub fn assoc(&self, name: &str) -> Option<&AssocChange> {
        let ai = *self.schema.assoc_index.get(name)?;
        self.assocs.iter().find(|(i, _)| *i == ai).map(|(_, c)| c)
    }

    /// The error tree, as Ecto's `traverse_errors`: `{field: [messages]}`, with an
    /// association's errors under its name (`[{}, {"title": [...]}]` for a list, where `{}`
    /// is a valid child). Associations whose children are all valid are left out.
    pub fn errors_json(&self) -> J {
        let mut out = serde_json::Map::new();
        for e in &self.errors {
            let entry = out
                .entry(e.field.clone())
                .or_insert_with(|| J::Array(Vec::new()));
            if let J::Array(list) = entry {
                list.push(J::String(e.message.clone()));
            }
        }
        for (ai, change) in &self.assocs {
            let name = &self.schema.assocs[*ai].name;
            match change {
                AssocChange::One(Some(child)) if !child.valid => {
                    out.insert(name.clone(), child.errors_json());
                }
                AssocChange::Many(children) if children.iter().any(|c| !c.valid) => {
                    out.insert(
                        name.clone(),
                        J::Array(children.iter().map(Changeset::errors_json).collect()),
                    );
                }
                _ => {}
            }
        }
        J::Object(out)
    }

    /// The cast values as JSON (fields the attrs gave, plus cast children), for reports.
    pub fn changes_json(&self) -> J {
        let mut out = serde_json::Map::new();
        for (f, v) in self.schema.fields.iter().zip(&self.changes) {
            if let Some(v) = v {
                out.insert(f.name.clone(), v.to_json());
            }
        }
        for (ai, change) in &self.assocs {
            let name = self.schema.assocs[*ai].name.clone();
            let v = match change {
                AssocChange::One(None) => J::Null,
                AssocChange::One(Some(c)) => c.changes_json(),
                AssocChange::Many(cs) => J::Array(cs.iter().map(Changeset::changes_json).collect()),
            };
            out.insert(name, v);
        }
        J::Object(out)
    }

    /// The primary key as JSON: the value for a one-field key, an array for a composite one,
    /// `null` when absent.
    pub fn primary_key_json(&self) -> J {
        let pk: Vec<J> = self
            .schema
            .primary_key
            .iter()
            .map(|&i| self.changes[i].as_ref().map_or(J::Null, Value::to_json))
            .collect();
        match pk.len() {
            0 => J::Null,
            1 => pk.into_iter().next().unwrap_or(J::Null),
            _ => J::Array(pk),
        }
    }

    /// Whether this changeset has a `has_many`/`has_one` child (at any depth) whose foreign
    /// key is required and absent from its attrs (`can't be blank`) while the parent gives
    /// the key it references: what `infer_foreign_keys` would fill. Always `false` when
    /// `inferring` (the option is on already).
    pub(crate) fn lacks_inferable_foreign_key(&self, inferring: bool) -> bool {
        if inferring {
            return false;
        }
        self.assocs.iter().any(|(ai, change)| {
            let children: Vec<&Changeset> = match change {
                AssocChange::One(c) => c.iter().map(|c| &**c).collect(),
                AssocChange::Many(v) => v.iter().collect(),
            };
            let parent_key = |references: usize| {
                self.changes[references]
                    .as_ref()
                    .is_some_and(|v| !v.is_null())
            };
            children.iter().any(|c| {
                let missing = match self.schema.assocs[*ai].link {
                    Link::Child { fk, references } => {
                        parent_key(references)
                            && c.changes[fk].is_none()
                            && c.errors.iter().any(|e| {
                                e.field == c.schema.fields[fk].name && e.message == "can't be blank"
                            })
                    }
                    _ => false,
                };
                missing || c.lacks_inferable_foreign_key(false)
            })
        })
    }

    /// The value a row gets for field `i`: the change, else the field's default.
    pub(crate) fn value(&self, i: usize) -> &Value {
        match &self.changes[i] {
            Some(v) => v,
            None => &self.schema.fields[i].default,
        }
    }
}

/// What a call's options change in casting.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CastCtx<'a> {
    /// Per schema index: (field, raw value) injected before validation.
    pub(crate) placeholders: &'a [Vec<(usize, J)>],
    /// `infer_foreign_keys`.
    pub(crate) infer_foreign_keys: bool,
    /// The call's clock reading as an RFC 3339 string, the value of `now()` in association
    /// defaults (`None`: read the clock when needed, outside a call).
    pub(crate) now: Option<&'a J>,
}

/// Casts attrs with a changeset that is known to exist (checked at registry build time for
/// nested ones, by the caller for the root).
///
/// `ctx.placeholders` (per schema index: field and raw value) replace the attrs' values before
/// casting, and are set on fields the changeset does not cast too. `inherited` is a foreign
/// key inferred from the parent (`infer_foreign_keys`): used when the attrs do not give the
/// field. `defaults` are the association's `defaults` (for a child): the values a field has
/// when nothing else gives it one. `entry` are (field, raw value) pairs a child's place gives
/// (a keyed map's key, a scalar element): they win over the attrs, and are set on fields the
/// changeset does not cast too; placeholders win over them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cast_with(
    registry: &Registry,
    schema: &Arc<Schema>,
    changeset: &str,
    attrs: &J,
    ctx: &CastCtx<'_>,
    inherited: Option<(usize, J)>,
    defaults: &[(usize, DefaultValue)],
    entry: &[(usize, &J)],
) -> Changeset {
    let placeholders = ctx.placeholders;
    let n = schema.fields.len();
    let mut cs = Changeset {
        schema: Arc::clone(schema),
        changes: no_changes(n),
        assocs: Vec::new(),
        errors: Vec::new(),
        valid: true,
    };
    let Some(def) = schema.changesets.get(changeset) else {
        cs.add_error(
            "item",
            format!("schema `{}` has no changeset `{changeset}`", schema.name),
        );
        return cs;
    };
    let J::Object(obj) = attrs else {
        cs.add_error("item", "is not a JSON object");
        return cs;
    };

    // cast
    let own_placeholders = placeholders
        .get(schema.index)
        .map_or(&[][..], Vec::as_slice);
    for &fi in &def.cast {
        let field = &schema.fields[fi];
        let given = own_placeholders
            .iter()
            .find(|(f, _)| *f == fi)
            .map(|(_, v)| v)
            .or_else(|| entry.iter().find(|(f, _)| *f == fi).map(|(_, v)| *v))
            .or_else(|| field.read(attrs))
            .or_else(|| inherited.as_ref().filter(|(f, _)| *f == fi).map(|(_, v)| v));
        let Some(raw) = given else {
            continue;
        };
        if matches!(raw, J::String(s) if s.is_empty()) {
            cs.changes[fi] = Some(Value::Null);
            continue;
        }
        match cast_value(&field.ty, raw) {
            Ok(v) => cs.changes[fi] = Some(v),
            Err(()) => cs.add_error(&field.name, "is invalid"),
        }
    }

    // Placeholders are written whether or not the changeset casts them.
    for (fi, raw) in own_placeholders {
        if cs.changes[*fi].is_none() && !def.cast.contains(fi) {
            cs.changes[*fi] = cast_value(&schema.fields[*fi].ty, raw).ok();
        }
    }
    // So are the fields the child's place gives.
    for (fi, raw) in entry {
        if cs.changes[*fi].is_none() && !def.cast.contains(fi) {
            match cast_value(&schema.fields[*fi].ty, raw) {
                Ok(v) => cs.changes[*fi] = Some(v),
                Err(()) => cs.add_error(&schema.fields[*fi].name, "is invalid"),
            }
        }
    }
    // So is an inferred foreign key, unless the attrs give one.
    if let Some((fi, raw)) = &inherited
        && cs.changes[*fi].is_none()
        && !def.cast.contains(fi)
        && schema.fields[*fi].read(attrs).is_none()
    {
        cs.changes[*fi] = cast_value(&schema.fields[*fi].ty, raw).ok();
    }

    // The association's defaults: what the child starts from, where nothing above gave a
    // value (and the cast did not fail).
    for (fi, default) in defaults {
        let name = &schema.fields[*fi].name;
        if cs.changes[*fi].is_some() || cs.errors.iter().any(|e| &e.field == name) {
            continue;
        }
        cs.changes[*fi] = match default {
            DefaultValue::Value(v) => Some(v.clone()),
            DefaultValue::Now => {
                let ty = &schema.fields[*fi].ty;
                match ctx.now {
                    Some(now) => cast_value(ty, now).ok(),
                    None => cast_value(ty, &clock_json(chrono::Utc::now())).ok(),
                }
            }
        };
    }

    // cast_assoc / cast_embed
    for (ai, with) in &def.cast_assoc {
        let assoc = &schema.assocs[*ai];
        let Some(raw) = obj.get(&assoc.name) else {
            continue;
        };
        let Some(related) = registry.related(assoc) else {
            continue; // `through`: never cast
        };
        let embed_field = match assoc.link {
            Link::Embed { field } => Some(field),
            _ => None,
        };
        // The parent's referenced key, for children that do not give their foreign key.
        let inherit = match assoc.link {
            Link::Child { fk, references } if ctx.infer_foreign_keys => cs.changes[references]
                .as_ref()
                .filter(|v| !v.is_null())
                .map(|v| (fk, v.to_json())),
            _ => None,
        };
        let change = if assoc.kind.is_many() {
            let many = shape::Many {
                registry,
                related,
                assoc,
                with,
                ctx,
                inherit,
            };
            match many.cast(raw) {
                Ok(children) => AssocChange::Many(children),
                Err(message) => {
                    cs.add_error(&assoc.name, message);
                    continue;
                }
            }
        } else {
            match raw {
                J::Null => AssocChange::One(None),
                J::Object(_) => AssocChange::One(Some(Box::new(cast_child(
                    registry,
                    related,
                    with,
                    raw,
                    ctx,
                    inherit,
                    &assoc.defaults,
                    &[],
                )))),
                _ => {
                    cs.add_error(&assoc.name, "is invalid");
                    continue;
                }
            }
        };
        let children_valid = match &change {
            AssocChange::One(c) => c.as_ref().is_none_or(|c| c.valid),
            AssocChange::Many(cs) => cs.iter().all(|c| c.valid),
        };
        if !children_valid {
            cs.valid = false;
        }
        if let Some(fi) = embed_field {
            cs.changes[fi] = Some(Value::Null); // filled from the children when planned
        }
        cs.assocs.push((*ai, change));
    }

    // validations
    for req in &def.required {
        match *req {
            Required::Field(fi) => {
                let blank = match &cs.changes[fi] {
                    Some(v) => is_blank(v),
                    None => is_blank(&schema.fields[fi].default),
                };
                let name = &schema.fields[fi].name;
                if blank && !cs.errors.iter().any(|e| &e.field == name) {
                    cs.add_error(&schema.fields[fi].name.clone(), "can't be blank");
                }
            }
            Required::Assoc(ai) => {
                let present = cs.assocs.iter().any(|(i, c)| {
                    *i == ai
                        && match c {
                            AssocChange::One(c) => c.is_some(),
                            AssocChange::Many(v) => !v.is_empty(),
                        }
                });
                let name = schema.assocs[ai].name.clone();
                if !present && !cs.errors.iter().any(|e| e.field == name) {
                    cs.add_error(&name, "can't be blank");
                }
            }
        }
    }
    for (fi, rule) in &def.rules {
        let Some(v) = cs.changes[*fi].as_ref() else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        if let Some(message) = check_rule(rule, v, &schema.fields[*fi].ty) {
            let name = schema.fields[*fi].name.clone();
            cs.add_error(&name, message);
        }
    }
    for custom in &def.custom {
        custom(&mut cs);
    }
    cs
}

#[allow(clippy::too_many_arguments)]
fn cast_child(
    registry: &Registry,
    related: &Arc<Schema>,
    with: &str,
    item: &J,
    ctx: &CastCtx<'_>,
    inherited: Option<(usize, J)>,
    defaults: &[(usize, DefaultValue)],
    entry: &[(usize, &J)],
) -> Changeset {
    let mut child = cast_with(
        registry, related, with, item, ctx, inherited, defaults, entry,
    );
    // Embedded schemas with a primary key get a UUID v4 when the attrs give none.
    if related.embedded {
        for &pk in &related.primary_key {
            let f = &related.fields[pk];
            if f.ty == FieldType::BinaryId && child.changes[pk].as_ref().is_none_or(Value::is_null)
            {
                child.changes[pk] = Some(Value::Uuid(uuid::Uuid::new_v4()));
            }
        }
    }
    child
}

/// Whether an invalid changeset can be recovered with `fallbacks` (per schema index: field
/// and fallback): every error is on a field that has a fallback, and every nested changeset
/// is valid or recoverable by the same rule. Errors on an association or embed itself never
/// are.
pub(crate) fn recoverable(cs: &Changeset, fallbacks: &[Vec<(usize, Value)>]) -> bool {
    if cs.valid {
        return true;
    }
    let own = fallbacks
        .get(cs.schema.index)
        .map_or(&[][..], Vec::as_slice);
    let errors_covered = cs.errors.iter().all(|e| {
        cs.schema
            .field_index
            .get(&e.field)
            .is_some_and(|fi| own.iter().any(|(f, _)| f == fi))
    });
    errors_covered
        && cs.assocs.iter().all(|(_, change)| match change {
            AssocChange::One(c) => c.as_ref().is_none_or(|c| recoverable(c, fallbacks)),
            AssocChange::Many(cs) => cs.iter().all(|c| recoverable(c, fallbacks)),
        })
}

/// Applies the fallbacks bottom-up, without re-validating. Call only when [`recoverable`].
pub(crate) fn recover(cs: &mut Changeset, fallbacks: &[Vec<(usize, Value)>]) {
    if cs.valid {
        return;
    }
    for (_, change) in &mut cs.assocs {
        match change {
            AssocChange::One(Some(c)) => recover(c, fallbacks),
            AssocChange::One(None) => {}
            AssocChange::Many(cs) => cs.iter_mut().for_each(|c| recover(c, fallbacks)),
        }
    }
    let own = fallbacks
        .get(cs.schema.index)
        .map_or(&[][..], Vec::as_slice);
    for e in std::mem::take(&mut cs.errors) {
        if let Some(fi) = cs.schema.field_index.get(&e.field)
            && let Some((_, v)) = own.iter().find(|(f, _)| f == fi)
        {
            cs.changes[*fi] = Some(v.clone());
        }
    }
    cs.valid = true;
}

/// A clock reading as the JSON string `now()` stands for: RFC 3339 in UTC, microseconds.
pub(crate) fn clock_json(now: chrono::DateTime<chrono::Utc>) -> J {
    J::String(now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// The changes of a changeset before anything is cast: `None` for each of `n` fields.
/// (`vec![None; n]` clones the `None` through `Value`'s `Clone`, measured several times
/// slower per changeset.)
pub(crate) fn no_changes(n: usize) -> Vec<Option<Value>> {
    let mut changes = Vec::with_capacity(n);
    changes.resize_with(n, || None);
    changes
}

/// Ecto's blank: null, or a string of only whitespace.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        // A first character that is not whitespace settles it without trimming the rest.
        Value::String(s) => s.chars().next().is_none_or(char::is_whitespace) && s.trim().is_empty(),
        _ => false,
    }
}

fn check_rule(rule: &Rule, v: &Value, ty: &FieldType) -> Option<String> {
    match rule {
        Rule::Format(re) => match v {
            Value::String(s) if !re.is_match(s) => Some("has invalid format".into()),
            _ => None,
        },
        Rule::Length(l) => check_length(l, v, ty),
        Rule::Number(n) => {
            let x = match v {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                Value::Decimal(d) => d.to_string().parse().ok()?,
                _ => return None,
            };
            check_number(n, x)
        }
        Rule::Inclusion(list) => (!list.contains(&v.to_json())).then(|| "is invalid".into()),
        Rule::Exclusion(list) => list.contains(&v.to_json()).then(|| "is reserved".into()),
    }
}

fn check_length(l: &LengthRule, v: &Value, ty: &FieldType) -> Option<String> {
    let (len, unit) = match v {
        Value::String(s) => (s.chars().count(), "character(s)"),
        Value::Bytes(b) if *ty == FieldType::Binary => (b.len(), "byte(s)"),
        Value::Array(a) => (a.len(), "item(s)"),
        _ => return None,
    };
    let (verb_is, verb_min, verb_max) = if unit == "item(s)" {
        ("should have", "should have at least", "should have at most")
    } else {
        ("should be", "should be at least", "should be at most")
    };
    if let Some(is) = l.is
        && len != is
    {
        return Some(format!("{verb_is} {is} {unit}"));
    }
    if let Some(min) = l.min
        && len < min
    {
        return Some(format!("{verb_min} {min} {unit}"));
    }
    if let Some(max) = l.max
        && len > max
    {
        return Some(format!("{verb_max} {max} {unit}"));
    }
    None
}

fn check_number(n: &NumberRule, x: f64) -> Option<String> {
    let fmt = |b: f64| {
        if b.fract() == 0.0 && b.abs() < 1e15 {
            format!("{}", b as i64)
        } else {
            format!("{b}")
        }
    };
    type Check = (Option<f64>, fn(f64, f64) -> bool, &'static str);
    let checks: [Check; 6] = [
        (n.greater_than, |x, b| x > b, "must be greater than"),
        (
            n.greater_than_or_equal_to,
            |x, b| x >= b,
            "must be greater than or equal to",
        ),
        (n.less_than, |x, b| x < b, "must be less than"),
        (
            n.less_than_or_equal_to,
            |x, b| x <= b,
            "must be less than or equal to",
        ),
        (n.equal_to, |x, b| x == b, "must be equal to"),
        (n.not_equal_to, |x, b| x != b, "must be not equal to"),
    ];
    checks.iter().find_map(|(bound, ok, msg)| {
        let b = (*bound)?;
        (!ok(x, b)).then(|| format!("{msg} {}", fmt(b)))
    })
}
