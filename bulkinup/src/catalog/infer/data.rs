//! Schema inference from the items themselves: the text of a schema file that loads them.
//!
//! The items are read once, with the reader of the write path ([`crate::input`]), and folded
//! into per-place statistics ([`Object`], [`Values`]): counts of each JSON kind, which string
//! types every string so far casts to, the keys of objects in the order first seen, and, for
//! the few keys that may become a primary key, a 64-bit hash of each value. No item is kept,
//! so memory grows with the number of distinct keys (and the key candidates' hashes), not
//! with the items. The statistics then give the schemas ([`Builder`]), rendered by the one
//! renderer of inferred files ([`SchemaText`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::path::Path;

use serde_json::{Map, Value as J};

use super::names::{camel, claim, plural, singular, snake};
use super::render::{FieldText, SchemaText, string};
use crate::changeset::cast_value;
use crate::error::{Error, Result};
use crate::input::{Source, read_each};
use crate::options::InferOptions;
use crate::schema::FieldType;

/// How many keys of the root's first item (those with a string or number value, in the
/// order read: alphabetical) are tracked as primary-key candidates besides `id`, which
/// always is: a hash per item each.
pub const MAX_KEY_CANDIDATES: usize = 16;

/// An object whose keys look like codes is a code-keyed map when it has more than this many
/// distinct keys, however often each appears.
pub const MANY_CODE_KEYS: usize = 50;

/// The longest key that looks like a code (`eng`, `EUR`, `en-GB`, `2024-01`).
pub const MAX_CODE_LEN: usize = 10;

/// The longest part of a code between `-`, `_` or `.` (`en`, `GB`, `2024`).
pub const MAX_CODE_PART: usize = 4;

/// Infers a schema file from the items of `sources` (NDJSON or JSON arrays, standard input
/// too, read as `bulkinup upsert` reads them) and returns its text. The rules are those of
/// the docs' page on the schema file, section "Inferring a schema from data":
///
/// - the root schema is named [`InferOptions::root`], else the CamelCase singular of the
///   first file's stem (`countries.ndjson` → `Country`; `Item` for standard input), its table
///   the snake_case plural (`countries`);
/// - scalars give typed fields (`integer`, `float`, `decimal`, `boolean`, `string`, `date`,
///   `utc_datetime_usec`, `naive_datetime_usec`, `binary_id`), arrays of scalars
///   `array:<type>`, nested objects `embeds_one` embedded schemas (or flattened columns with
///   [`InferOptions::flatten`]), arrays of objects `has_many` children, code-keyed objects
///   `map` fields (or keyed children with [`InferOptions::keyed`]);
/// - the primary key is `id` when every item has a unique one, else the first key unique and
///   never null, else a generated `id`.
///
/// The file has no changeset (every schema gets the default one, which casts everything)
/// and is deterministic: the same items give the same text.
///
/// ```
/// use bulkinup::{InferOptions, Registry, input::Source};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("countries.ndjson");
/// std::fs::write(
///     &path,
///     r#"{"cca3": "FRA", "name": "France", "area": 551695.5, "borders": ["BEL", "DEU"],
///         "cities": [{"id": 1, "name": "Paris"}]}
///        {"cca3": "BEL", "name": "Belgium", "area": 30528, "borders": ["FRA"], "cities": []}"#
///         .replace("\n        ", " "),
/// )?;
/// let text = bulkinup::catalog::infer_from_data(&[Source::File(path)], &InferOptions::default())?;
/// assert!(text.contains("[schemas.Country]\nsource = \"countries\"\nprimary_key = [\"cca3\"]\n"));
/// assert!(text.contains("area = \"float\"\nborders = \"array:string\"\n"));
/// assert!(text.contains(r#"cities = { kind = "has_many", related = "City", foreign_key = "country_id" }"#));
/// let registry = Registry::from_toml_str(&text, "countries.toml")?.registry;
/// assert_eq!(registry.schema_names(), ["City", "Country"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Input`] when an input is malformed (naming its file and line), an item is not a
/// JSON object, or there is no item at all; [`Error::Io`] when a file cannot be read.
pub fn infer_from_data(sources: &[Source], options: &InferOptions) -> Result<String> {
    let mut root = Object::new(Track::Candidates);
    let mut failure = None;
    let mut read = 0usize;
    let limit = options.sample.unwrap_or(usize::MAX);
    read_each(sources, options.max_item_bytes, &mut |item| match item {
        Err(e) => {
            failure = Some(e);
            false
        }
        Ok(item) => {
            let J::Object(attrs) = &item.attrs else {
                let origin = item.origin.as_ref();
                failure = Some(Error::Input {
                    file: origin.map(|o| o.file.to_string()),
                    line: origin.and_then(|o| o.line.or(o.index)),
                    message: format!(
                        "the item is a JSON {}, not an object: no schema can be inferred from it",
                        kind_name(&item.attrs)
                    ),
                });
                return false;
            };
            root.observe(attrs);
            read += 1;
            read < limit
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let first = sources.first().unwrap_or(&Source::Stdin);
    if read == 0 {
        return Err(Error::Input {
            file: Some(first.name().to_string()),
            line: None,
            message: "no item to infer a schema from".to_string(),
        });
    }
    let name = options.root.clone().unwrap_or_else(|| match first {
        Source::Stdin => "Item".to_string(),
        Source::File(path) => default_root(path),
    });
    let mut builder = Builder {
        options,
        schemas: Vec::new(),
        names: BTreeSet::new(),
        tables: BTreeSet::new(),
        has_many: false,
    };
    builder.names.insert(name.clone());
    builder.table_schema(name, &root, None);
    Ok(builder.render(sources, read))
}

/// `countries.ndjson` → `Country`.
fn default_root(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .unwrap_or("item");
    camel(&singular(&snake(stem)))
}

fn kind_name(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------
// Statistics.

/// Which keys of an object place have their values' uniqueness tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    /// The root: `id` and the first [`MAX_KEY_CANDIDATES`] keys of the first item.
    Candidates,
    /// The elements of arrays: `id` only.
    Id,
    /// Nested objects: none.
    None,
}

/// The objects seen at one place (the root items, a key's object values, or the object
/// elements of a key's arrays), merged.
#[derive(Debug, Clone)]
pub(super) struct Object {
    /// Objects seen.
    count: u64,
    /// In the order first seen.
    keys: Vec<Key>,
    index: HashMap<String, usize>,
    track: Track,
    /// Keys tracked as primary-key candidates, `id` aside.
    candidates: usize,
}

/// One key of an [`Object`].
#[derive(Debug, Clone)]
struct Key {
    name: String,
    /// Objects that have the key, its value null or not.
    appears: u64,
    values: Values,
    /// Hashes of its values while they are all distinct scalars, never null.
    unique: Option<Unique>,
}

#[derive(Debug, Clone, Default)]
struct Unique {
    seen: HashSet<u64>,
    broken: bool,
}

/// The values seen at one place, merged.
#[derive(Debug, Clone, Default)]
pub(super) struct Values {
    nulls: u64,
    /// Integers within 64 bits.
    ints: u64,
    /// Integers beyond 64 bits, and numbers beyond a 64-bit float's range.
    wide: u64,
    /// Other numbers.
    floats: u64,
    bools: u64,
    strings: u64,
    text: Text,
    objects: Option<Box<Object>>,
    arrays: u64,
    /// The elements of every array, merged.
    elements: Option<Box<Values>>,
}

/// The field types every string seen so far casts to.
#[derive(Debug, Clone, Copy)]
struct Text {
    date: bool,
    /// An RFC 3339 date-time with an offset, or one without.
    datetime: bool,
    /// How many carry an offset.
    zoned: u64,
    uuid: bool,
    integer: bool,
    float: bool,
    boolean: bool,
}

impl Default for Text {
    fn default() -> Self {
        Text {
            date: true,
            datetime: true,
            zoned: 0,
            uuid: true,
            integer: true,
            float: true,
            boolean: true,
        }
    }
}

impl Text {
    fn observe(&mut self, v: &J) {
        let casts = |ty: FieldType| cast_value(&ty, v).is_ok();
        let J::String(s) = v else { return };
        if self.date {
            self.date = casts(FieldType::Date);
        }
        if self.datetime {
            if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
                self.zoned += 1;
            } else {
                self.datetime = s.len() > 10 && casts(FieldType::NaiveDatetimeUsec);
            }
        }
        if self.uuid {
            self.uuid = casts(FieldType::BinaryId);
        }
        if self.integer {
            self.integer = casts(FieldType::Integer);
        }
        if self.float {
            self.float = casts(FieldType::Float);
        }
        if self.boolean {
            self.boolean = casts(FieldType::Boolean);
        }
    }

    fn merge(&mut self, other: &Text) {
        self.date &= other.date;
        self.datetime &= other.datetime;
        self.zoned += other.zoned;
        self.uuid &= other.uuid;
        self.integer &= other.integer;
        self.float &= other.float;
        self.boolean &= other.boolean;
    }
}

impl Object {
    fn new(track: Track) -> Object {
        Object {
            count: 0,
            keys: Vec::new(),
            index: HashMap::new(),
            track,
            candidates: 0,
        }
    }

    fn observe(&mut self, object: &Map<String, J>) {
        self.count += 1;
        let first = self.count == 1;
        for (name, value) in object {
            let i = match self.index.get(name) {
                Some(&i) => i,
                None => {
                    let tracked = match self.track {
                        Track::Candidates => {
                            name == "id"
                                || (first
                                    && matches!(value, J::String(_) | J::Number(_))
                                    && self.candidates < MAX_KEY_CANDIDATES)
                        }
                        Track::Id => name == "id",
                        Track::None => false,
                    };
                    // A key missing from an earlier object is never null-free in all of them.
                    let unique = (tracked && first).then(Unique::default).or_else(|| {
                        tracked.then_some(Unique {
                            seen: HashSet::new(),
                            broken: true,
                        })
                    });
                    if tracked && name != "id" {
                        self.candidates += 1;
                    }
                    self.index.insert(name.clone(), self.keys.len());
                    self.keys.push(Key {
                        name: name.clone(),
                        appears: 0,
                        values: Values::default(),
                        unique,
                    });
                    self.keys.len() - 1
                }
            };
            let key = &mut self.keys[i];
            key.appears += 1;
            if let Some(u) = &mut key.unique {
                u.observe(value);
            }
            key.values.observe(value, Track::None);
        }
    }

    fn merge(&mut self, other: &Object) {
        self.count += other.count;
        for k in &other.keys {
            match self.index.get(&k.name) {
                Some(&i) => {
                    let mine = &mut self.keys[i];
                    mine.appears += k.appears;
                    mine.values.merge(&k.values);
                    mine.unique = None;
                }
                None => {
                    self.index.insert(k.name.clone(), self.keys.len());
                    self.keys.push(Key {
                        unique: None,
                        ..k.clone()
                    });
                }
            }
        }
    }

    fn key(&self, name: &str) -> Option<&Key> {
        self.index.get(name).map(|&i| &self.keys[i])
    }

    /// Whether `key` may be the primary key: present, never null, in every object, its
    /// values distinct scalars.
    fn unique_key(&self, key: &Key) -> bool {
        key.unique.as_ref().is_some_and(|u| !u.broken)
            && key.appears == self.count
            && key.values.nulls == 0
    }

    /// Whether these objects are a code-keyed map rather than records: at least two
    /// distinct keys, all looking like codes ([`looks_like_code`]), the values of every key
    /// all objects or all scalars, and the keys varying from object to object — more than
    /// [`MANY_CODE_KEYS`] of them, or an object has on average at most two thirds of them.
    fn code_keyed(&self) -> bool {
        let k = self.keys.len();
        if k < 2 || !self.keys.iter().all(|key| looks_like_code(&key.name)) {
            return false;
        }
        let all = |f: fn(&Values) -> bool| self.keys.iter().all(|key| f(&key.values));
        let one_kind = all(|v| v.only_objects()) || all(|v| v.only_scalars());
        let appearances: u64 = self.keys.iter().map(|key| key.appears).sum();
        let varies = k > MANY_CODE_KEYS || appearances * 3 <= self.count * k as u64 * 2;
        one_kind && varies
    }

    /// Whether any of its keys holds arrays of objects, at any depth of nested objects.
    fn holds_object_arrays(&self) -> bool {
        self.keys.iter().any(|k| {
            k.values
                .elements
                .as_ref()
                .is_some_and(|e| e.objects.is_some())
                || k.values
                    .objects
                    .as_ref()
                    .is_some_and(|o| o.holds_object_arrays())
        })
    }
}

/// A key that looks like a code (`eng`, `EUR`, `en-GB`, `2024-01`): at most
/// [`MAX_CODE_LEN`] characters, parts of 1 to [`MAX_CODE_PART`] ASCII letters or digits
/// separated by `-`, `_` or `.`, the letters of each part all lowercase or all uppercase
/// (not `firstName`, not `common`).
pub(super) fn looks_like_code(name: &str) -> bool {
    name.len() <= MAX_CODE_LEN
        && name.split(['-', '_', '.']).all(|part| {
            (1..=MAX_CODE_PART).contains(&part.len())
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && !(part.chars().any(|c| c.is_ascii_lowercase())
                    && part.chars().any(|c| c.is_ascii_uppercase()))
        })
}

impl Unique {
    fn observe(&mut self, value: &J) {
        if self.broken {
            return;
        }
        let hashed = match value {
            J::String(s) => Some(hash(("s", s.as_str()))),
            J::Number(n) => Some(hash(("n", n.to_string().as_str()))),
            _ => None,
        };
        match hashed {
            Some(h) if self.seen.insert(h) => {}
            _ => {
                self.broken = true;
                self.seen = HashSet::new();
            }
        }
    }
}

/// A 64-bit hash, the same on every run (a collision can only make a key look not unique).
fn hash(value: (&str, &str)) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6275_6c6b_696e_7570).hash_one(value)
}

impl Values {
    fn observe(&mut self, v: &J, elements: Track) {
        match v {
            J::Null => self.nulls += 1,
            J::Bool(_) => self.bools += 1,
            J::Number(n) => {
                let text = n.to_string();
                let integral = !text.contains(['.', 'e', 'E']);
                if n.is_i64() {
                    self.ints += 1;
                } else if integral || !n.as_f64().is_some_and(f64::is_finite) {
                    self.wide += 1;
                } else {
                    self.floats += 1;
                }
            }
            J::String(_) => {
                self.strings += 1;
                self.text.observe(v);
            }
            J::Object(map) => self
                .objects
                .get_or_insert_with(|| Box::new(Object::new(elements)))
                .observe(map),
            J::Array(items) => {
                self.arrays += 1;
                let e = self.elements.get_or_insert_with(Box::default);
                for item in items {
                    e.observe(item, Track::Id);
                }
            }
        }
    }

    fn merge(&mut self, other: &Values) {
        self.nulls += other.nulls;
        self.ints += other.ints;
        self.wide += other.wide;
        self.floats += other.floats;
        self.bools += other.bools;
        self.strings += other.strings;
        self.text.merge(&other.text);
        self.arrays += other.arrays;
        if let Some(o) = &other.objects {
            match &mut self.objects {
                Some(mine) => mine.merge(o),
                None => self.objects = Some(o.clone()),
            }
        }
        if let Some(e) = &other.elements {
            match &mut self.elements {
                Some(mine) => mine.merge(e),
                None => self.elements = Some(e.clone()),
            }
        }
    }

    fn numbers(&self) -> u64 {
        self.ints + self.wide + self.floats
    }

    fn scalars(&self) -> u64 {
        self.numbers() + self.bools + self.strings
    }

    fn object_count(&self) -> u64 {
        self.objects.as_ref().map_or(0, |o| o.count)
    }

    fn only_objects(&self) -> bool {
        self.object_count() > 0 && self.scalars() == 0 && self.arrays == 0
    }

    fn only_scalars(&self) -> bool {
        self.scalars() > 0 && self.object_count() == 0 && self.arrays == 0
    }

    /// The field type of these values when they are scalars, arrays of them, or mixed
    /// (see [`Shape`]), with a comment when some values will not cast.
    fn field_type(&self) -> (String, Option<String>) {
        let objects = self.object_count();
        let kinds = [self.scalars() > 0, objects > 0, self.arrays > 0]
            .iter()
            .filter(|k| **k)
            .count();
        if kinds == 0 {
            return (
                "string".into(),
                Some("only null values in the sample: the type is a guess".into()),
            );
        }
        if kinds > 1 {
            let mut mixed = Vec::new();
            if self.scalars() > 0 {
                mixed.push("scalars");
            }
            if objects > 0 {
                mixed.push("objects");
            }
            if self.arrays > 0 {
                mixed.push("arrays");
            }
            let (ty, casts) = if objects > 0 {
                ("map", "objects")
            } else {
                ("string", "strings")
            };
            return (
                ty.into(),
                Some(format!(
                    "values mix {}: only the {casts} cast",
                    mixed.join(" and ")
                )),
            );
        }
        if objects > 0 {
            return ("map".into(), None);
        }
        if self.arrays > 0 {
            let Some(e) = &self.elements else {
                return ("array:string".into(), None);
            };
            if e.scalars() == 0 && e.object_count() == 0 && e.arrays == 0 {
                return (
                    "array:string".into(),
                    Some("only empty arrays in the sample: the element type is a guess".into()),
                );
            }
            let (inner, note) = e.field_type();
            return (format!("array:{inner}"), note);
        }
        self.scalar_type()
    }

    /// The field type of scalar values: the narrowest that casts them all.
    fn scalar_type(&self) -> (String, Option<String>) {
        let t = &self.text;
        let numbers = self.numbers();
        let ty = match (numbers > 0, self.bools > 0, self.strings > 0) {
            (true, false, false) if self.wide > 0 => "decimal",
            (true, false, false) if self.floats > 0 => "float",
            (true, false, false) => "integer",
            (false, true, false) => "boolean",
            (false, false, true) if t.date => "date",
            (false, false, true) if t.datetime && t.zoned > 0 => "utc_datetime_usec",
            (false, false, true) if t.datetime => "naive_datetime_usec",
            (false, false, true) if t.uuid => "binary_id",
            (false, false, true) => "string",
            (true, false, true) if t.integer && self.floats == 0 && self.wide == 0 => "integer",
            (true, false, true) if t.float && self.wide == 0 => "float",
            (false, true, true) if t.boolean => "boolean",
            _ => {
                let mut kinds = Vec::new();
                for (n, kind) in [(numbers, "numbers"), (self.bools, "booleans")] {
                    if n > 0 {
                        kinds.push(kind);
                    }
                }
                let note = if self.strings > 0 {
                    format!(
                        "values mix strings and {}: only the strings cast",
                        kinds.join(" and ")
                    )
                } else {
                    "values mix numbers and booleans: neither casts to the other".to_string()
                };
                return ("string".into(), Some(note));
            }
        };
        (ty.into(), None)
    }
}

// ---------------------------------------------------------------------------------------
// From statistics to schemas.

/// The schemas being built, in the order they are written.
struct Builder<'o> {
    options: &'o InferOptions,
    schemas: Vec<SchemaText>,
    /// Schema names, taken.
    names: BTreeSet<String>,
    /// Table names, taken.
    tables: BTreeSet<String>,
    /// Whether any schema has a `has_many`: the file's `[options]` then set
    /// `infer_foreign_keys`.
    has_many: bool,
}

/// The parent of a child schema: its foreign key's name and type.
#[derive(Debug, Clone)]
struct Parent {
    foreign_key: String,
    ty: String,
}

/// The shape of one key's values.
enum Shape<'s> {
    /// A field of this type (with a comment).
    Field(String, Option<String>),
    /// Objects, merged.
    Object(&'s Object),
    /// Arrays of objects (nulls allowed), their elements merged.
    Objects(&'s Object),
    /// Code-keyed objects.
    Keyed(&'s Object),
}

impl Values {
    fn shape(&self) -> Shape<'_> {
        if let Some(o) = self.objects.as_ref().filter(|_| self.only_objects()) {
            if o.keys.is_empty() {
                return Shape::Field(
                    "map".into(),
                    Some("only empty objects in the sample".into()),
                );
            }
            return if o.code_keyed() {
                Shape::Keyed(o)
            } else {
                Shape::Object(o)
            };
        }
        let only_arrays = self.arrays > 0 && self.scalars() == 0 && self.object_count() == 0;
        if let Some(e) = self
            .elements
            .as_ref()
            .filter(|e| only_arrays && e.only_objects())
            && let Some(o) = &e.objects
        {
            return Shape::Objects(o);
        }
        let (ty, note) = self.field_type();
        Shape::Field(ty, note)
    }
}

impl Builder<'_> {
    /// Claims a schema name for the objects found under `key` of schema `owner`.
    fn claim_schema(&mut self, owner: &str, key: &str) -> String {
        let base = camel(&singular(&snake(key)));
        claim(&mut self.names, &[base.clone(), format!("{owner}{base}")])
    }

    /// A schema with a table: the root, or a `has_many` child (with its `parent`).
    fn table_schema(&mut self, name: String, object: &Object, parent: Option<Parent>) -> String {
        let table = claim(&mut self.tables, &[plural(&snake(&name))]);
        let at = self.schemas.len();
        self.schemas.push(SchemaText::default());
        let mut s = SchemaText {
            name: name.clone(),
            source: Some(table),
            ..SchemaText::default()
        };
        let mut taken = BTreeSet::new();

        // The primary key.
        let id = object.key("id");
        let pk_key = match id {
            Some(k) if object.unique_key(k) && key_type(k).is_some() => Some(k),
            _ if parent.is_none() => object
                .keys
                .iter()
                .filter(|k| object.unique_key(k))
                .filter_map(|k| Some((key_rank(&k.name, &key_type(k)?), k)))
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, k)| k),
            _ => None,
        };
        // The key's field, claimed first, and its type.
        let (pk, pk_type) = match pk_key.and_then(|k| Some((k, key_type(k)?))) {
            Some((k, ty)) => (claim(&mut taken, &[snake(&k.name)]), ty),
            None => {
                taken.insert("id".to_string());
                s.fields.push(FieldText {
                    keys: vec!["autogenerate = true".into()],
                    note: Some(if parent.is_some() {
                        "generated: the elements have no unique, never-null `id`".into()
                    } else {
                        "generated: no key of the sample is unique and never null".into()
                    }),
                    ..FieldText::new("id", "id")
                });
                ("id".to_string(), "integer".to_string())
            }
        };
        s.primary_key = vec![pk.clone()];
        let own = Parent {
            foreign_key: format!("{}_id", snake(&name)),
            ty: pk_type,
        };
        if let Some(p) = parent
            .as_ref()
            .filter(|p| object.key(&p.foreign_key).is_none())
        {
            taken.insert(p.foreign_key.clone());
            s.fields.push(FieldText {
                note: Some("the parent's key: filled in by infer_foreign_keys".into()),
                ..FieldText::new(&p.foreign_key, &p.ty)
            });
        }
        for key in &object.keys {
            let is_pk = pk_key.is_some_and(|k| std::ptr::eq(k, key));
            let key_field = is_pk.then_some(pk.as_str());
            self.table_key(&mut s, &mut taken, key, key_field, &own);
        }
        self.schemas[at] = s;
        name
    }

    /// One key of a schema with a table.
    /// `key_field`: the field's name when the key is the primary key; `own`: the foreign
    /// key of the schema's children.
    fn table_key(
        &mut self,
        s: &mut SchemaText,
        taken: &mut BTreeSet<String>,
        key: &Key,
        key_field: Option<&str>,
        own: &Parent,
    ) {
        let flatten = self.options.flatten;
        match key.values.shape() {
            Shape::Object(o) if flatten && !o.holds_object_arrays() => {
                self.flattened(s, taken, &key.name, &[key.name.as_str()], o);
            }
            Shape::Object(o) => {
                let related = self.claim_schema(&s.name, &key.name);
                self.embedded_schema(related.clone(), o);
                let column = claim(taken, &[snake(&key.name)]);
                let mut value = format!("{{ kind = \"embeds_one\", related = {}", string(&related));
                if column != key.name {
                    value.push_str(&format!(", source = {}", string(&column)));
                }
                value.push_str(" }");
                s.assocs.push((key.name.clone(), value));
            }
            Shape::Objects(o) => {
                let related = self.claim_schema(&s.name, &key.name);
                let parent = own.clone();
                let fk = parent.foreign_key.clone();
                self.has_many = true;
                self.table_schema(related.clone(), o, Some(parent));
                taken.insert(key.name.clone());
                s.assocs.push((
                    key.name.clone(),
                    format!(
                        "{{ kind = \"has_many\", related = {}, foreign_key = {} }}",
                        string(&related),
                        string(&fk)
                    ),
                ));
            }
            Shape::Keyed(o) if self.options.keyed => {
                let related = self.claim_schema(&s.name, &key.name);
                let parent = own.clone();
                let fk = parent.foreign_key.clone();
                self.has_many = true;
                let scalar = self.keyed_schema(related.clone(), o, parent);
                taken.insert(key.name.clone());
                let value_field = if scalar {
                    ", value_field = \"value\""
                } else {
                    ""
                };
                s.assocs.push((
                    key.name.clone(),
                    format!(
                        "{{ kind = \"has_many\", related = {}, foreign_key = {}, keyed_by = \"key\"{value_field} }}",
                        string(&related),
                        string(&fk)
                    ),
                ));
            }
            Shape::Keyed(_) => {
                let mut f = column(taken, snake(&key.name), &[&key.name], "map");
                f.note = Some("keys vary like codes: a map (or a keyed child with --keyed)".into());
                s.fields.push(f);
            }
            Shape::Field(ty, note) => {
                let mut f = match key_field {
                    Some(name) => {
                        let ty = if ty == "integer" {
                            "id".to_string()
                        } else {
                            ty
                        };
                        let mut f = FieldText::new(name, ty);
                        if name != key.name {
                            f.keys
                                .push(format!("from = {}", string(&path_text(&[&key.name]))));
                        }
                        f
                    }
                    // A key `id` that is not the primary key, beside a generated `id`.
                    None if key.name == "id" && s.primary_key == ["id"] => {
                        column(taken, "source_id".into(), &[&key.name], &ty)
                    }
                    None => column(taken, snake(&key.name), &[&key.name], &ty),
                };
                f.note = note;
                s.fields.push(f);
            }
        }
    }

    /// Flattened columns of the objects under `path`: `name_common` from `name.common`.
    fn flattened(
        &mut self,
        s: &mut SchemaText,
        taken: &mut BTreeSet<String>,
        prefix: &str,
        path: &[&str],
        o: &Object,
    ) {
        for key in &o.keys {
            let flat = format!("{prefix}_{}", key.name);
            let sub = [path, &[key.name.as_str()]].concat();
            match key.values.shape() {
                Shape::Object(inner) => {
                    self.flattened(s, taken, &flat, &sub, inner);
                }
                shape => {
                    let (ty, note) = match shape {
                        Shape::Field(ty, note) => (ty, note),
                        Shape::Keyed(_) => {
                            ("map".to_string(), Some("keys vary like codes".to_string()))
                        }
                        _ => key.values.field_type(),
                    };
                    let mut f = column(taken, snake(&flat), &sub, &ty);
                    f.note = note;
                    s.fields.push(f);
                }
            }
        }
    }

    /// An embedded schema of the objects `o` (nested objects embedded, arrays of objects
    /// `embeds_many`; keys kept as they are, since they are JSON keys, not columns).
    fn embedded_schema(&mut self, name: String, o: &Object) {
        let at = self.schemas.len();
        self.schemas.push(SchemaText::default());
        let mut s = SchemaText {
            name: name.clone(),
            embedded: true,
            ..SchemaText::default()
        };
        for key in &o.keys {
            let (kind, inner) = match key.values.shape() {
                Shape::Object(inner) => ("embeds_one", inner),
                Shape::Objects(inner) => ("embeds_many", inner),
                Shape::Keyed(_) => {
                    s.fields.push(FieldText {
                        note: Some("keys vary like codes".into()),
                        ..FieldText::new(&key.name, "map")
                    });
                    continue;
                }
                Shape::Field(ty, note) => {
                    s.fields.push(FieldText {
                        note,
                        ..FieldText::new(&key.name, ty)
                    });
                    continue;
                }
            };
            let related = self.claim_schema(&name, &key.name);
            self.embedded_schema(related.clone(), inner);
            s.assocs.push((
                key.name.clone(),
                format!("{{ kind = \"{kind}\", related = {} }}", string(&related)),
            ));
        }
        self.schemas[at] = s;
    }

    /// A keyed child of the code-keyed objects `o`: a row per key (`key`), with the value in
    /// `value` when the values are scalars, or the values' (merged) keys as fields. Returns
    /// whether the values are scalars.
    fn keyed_schema(&mut self, name: String, o: &Object, parent: Parent) -> bool {
        let mut merged = Values::default();
        for k in &o.keys {
            merged.merge(&k.values);
        }
        let mut object = Object::new(Track::None);
        let scalar = match &merged.objects {
            Some(values) => {
                object = (**values).clone();
                false
            }
            None => true,
        };
        // The key and the value are keys of the child's attrs.
        let mut key = Key {
            name: "key".into(),
            appears: object.count,
            values: Values::default(),
            unique: None,
        };
        key.values.strings = 1;
        key.values.text = Text {
            date: false,
            datetime: false,
            uuid: false,
            ..Text::default()
        };
        let mut keys = vec![key];
        if scalar {
            keys.push(Key {
                name: "value".into(),
                appears: 0,
                values: merged,
                unique: None,
            });
        }
        for k in object.keys.drain(..) {
            keys.push(k);
        }
        object.index = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.name.clone(), i))
            .collect();
        object.keys = keys;
        let foreign_key = parent.foreign_key.clone();
        let name = self.table_schema(name, &object, Some(parent));
        // Without an `id` of its own, a keyed child is identified by its parent and its
        // key: an upsert run again updates it rather than adding it once more under a
        // new generated key.
        if let Some(schema) = self.schemas.iter_mut().find(|s| s.name == name)
            && let Some(at) = schema
                .fields
                .iter()
                .position(|f| f.name == "id" && f.keys.iter().any(|k| k == "autogenerate = true"))
            && schema.fields.iter().any(|f| f.name == foreign_key)
            && schema.fields.iter().any(|f| f.name == "key")
        {
            schema.fields.remove(at);
            schema.primary_key = vec![foreign_key, "key".into()];
            schema
                .notes
                .push("identified by its parent and its key in the parent's map".into());
        }
        scalar
    }

    fn render(&self, sources: &[Source], read: usize) -> String {
        let inputs: Vec<String> = sources.iter().map(|s| s.name().to_string()).collect();
        let mut out = String::new();
        out.push_str(&format!(
            "# Schemas inferred by bulkinup from {read} item(s) of {}. Names and types are\n",
            inputs.join(", ")
        ));
        out.push_str(
            "# guessed from the sample: review them. Every schema gets the default changeset.\n",
        );
        if self.has_many {
            out.push_str("\n[options]\ninfer_foreign_keys = true\n");
        }
        for s in &self.schemas {
            s.render(&mut out);
        }
        out
    }
}

/// The field of a column `wanted` (claimed, with a suffix when taken) for the attrs key at
/// `path` (the keys from the item down, several when flattened), with `from` when the two
/// differ.
fn column(taken: &mut BTreeSet<String>, wanted: String, path: &[&str], ty: &str) -> FieldText {
    let name = claim(taken, &[wanted]);
    let mut f = FieldText::new(&name, ty);
    if path != [name.as_str()] {
        f.keys.push(format!("from = {}", string(&path_text(path))));
    }
    f
}

/// A field path as `from` takes it: a dot path (`name.common`), or a JSON Pointer
/// (`/a.b/c`, `~0` for `~` and `~1` for `/`) when a key holds a `.`, is empty, or the path
/// would start with `/`.
pub(super) fn path_text(path: &[&str]) -> String {
    let plain = path.iter().all(|k| !k.is_empty() && !k.contains('.'))
        && !path.first().is_some_and(|k| k.starts_with('/'));
    if plain {
        path.join(".")
    } else {
        path.iter()
            .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
            .collect()
    }
}

/// How likely a unique key is the primary key, lowest first: a name ending in `id`, `code`,
/// `key` or `uuid` (any case), then other strings, then integers.
fn key_rank(name: &str, ty: &str) -> u8 {
    let lower = name.to_ascii_lowercase();
    if ["id", "code", "key", "uuid"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        0
    } else if ty != "integer" {
        1
    } else {
        2
    }
}

/// The field type of a key that may be a primary key (integers, strings, UUIDs).
fn key_type(key: &Key) -> Option<String> {
    match key.values.shape() {
        Shape::Field(ty, None) if ["integer", "string", "binary_id"].contains(&ty.as_str()) => {
            Some(ty)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
