//! `docs/schema-file.md` documents every key the schema-file loader accepts, and every
//! option key of the command line's `[options]` tables.
//!
//! The key lists are read from the sources as text: the loader's `const …: &[&str]` lists
//! and `assoc_keys_for` in `bulkinup/src/schema/file.rs`; the option keys are the library's
//! `bulkinup::options::OPTION_KEYS`. (A `#[doc(hidden)]` function of the loader returning the
//! accepted keys would be cleaner; this test can switch to it when there is one.) A second
//! test loads a schema file that uses every key, so the lists read here are keys the loader
//! really accepts.

use std::collections::BTreeSet;

use bulkinup::Registry;

const DOC: &str = include_str!("../../docs/schema-file.md");
const LOADER: &str = include_str!("../src/schema/file.rs");

/// The loader's key lists, by the name of their `const`.
const LOADER_LISTS: &[&str] = &[
    "TOP_KEYS",
    "SCHEMA_KEYS",
    "FIELD_KEYS",
    "ASSOC_KEYS",
    "CHANGESET_KEYS",
    "LENGTH_KEYS",
    "NUMBER_KEYS",
    "CAST_ENTRY_KEYS",
];

/// The string literals of `text`, in order (no escapes: key names have none).
fn literals(text: &str) -> Vec<&str> {
    text.split('"').skip(1).step_by(2).collect()
}

/// The string literals of `const NAME: &[&str] = &[ … ];` in `source`.
fn const_list<'s>(source: &'s str, file: &str, name: &str) -> Vec<&'s str> {
    let head = format!("const {name}: &[&str] = &[");
    let start = source.find(&head).unwrap_or_else(|| {
        panic!("`{head}` not found in {file}: update this test (or read a function of the code)")
    }) + head.len();
    let len = source[start..]
        .find("];")
        .unwrap_or_else(|| panic!("`{name}` in {file} has no end `];`"));
    let keys = literals(&source[start..start + len]);
    assert!(!keys.is_empty(), "`{name}` in {file} lists no key");
    keys
}

/// The keys of every association kind, from `fn assoc_keys_for` of the loader.
fn assoc_keys_for() -> Vec<&'static str> {
    let start = LOADER
        .find("fn assoc_keys_for")
        .expect("`fn assoc_keys_for` in bulkinup/src/schema/file.rs");
    let len = LOADER[start..]
        .find("\n}\n")
        .expect("the end of `fn assoc_keys_for`");
    let keys = literals(&LOADER[start..start + len]);
    assert!(
        keys.len() > 10,
        "assoc_keys_for lists too few keys: {keys:?}"
    );
    keys
}

/// Every key the loader accepts.
fn loader_keys() -> BTreeSet<&'static str> {
    let mut keys: BTreeSet<&str> = LOADER_LISTS
        .iter()
        .flat_map(|name| const_list(LOADER, "bulkinup/src/schema/file.rs", name))
        .collect();
    keys.extend(assoc_keys_for());
    keys
}

/// The option keys of `[options]`, `[options.upsert]` and `[options.insert]`.
fn option_keys() -> Vec<&'static str> {
    bulkinup::options::OPTION_KEYS.to_vec()
}

fn undocumented<'k>(keys: impl IntoIterator<Item = &'k str>) -> Vec<&'k str> {
    keys.into_iter()
        .filter(|k| !DOC.contains(&format!("`{k}`")))
        .collect()
}

#[test]
fn every_loader_key_is_documented() {
    let keys = loader_keys();
    // Spot checks, so that a parse that finds nothing cannot pass.
    for k in [
        "schemas",
        "join_defaults",
        "greater_than_or_equal_to",
        "with",
    ] {
        assert!(keys.contains(k), "`{k}` not read from the loader: {keys:?}");
    }
    let missing = undocumented(keys.iter().copied());
    assert!(
        missing.is_empty(),
        "keys of the schema-file loader not documented as `key` in docs/schema-file.md: {missing:?}"
    );
}

#[test]
fn every_option_key_is_documented() {
    let keys = option_keys();
    assert!(
        keys.contains(&"chunk_size") && keys.contains(&"prefix"),
        "{keys:?}"
    );
    let missing = undocumented(keys.iter().copied());
    assert!(
        missing.is_empty(),
        "`[options]` keys not documented as `key` in docs/schema-file.md: {missing:?}"
    );
    for table in ["[options]", "[options.upsert]", "[options.insert]"] {
        assert!(
            DOC.contains(table),
            "docs/schema-file.md does not name `{table}`"
        );
    }
}

/// A schema file that uses every key the loader accepts: it loads, and it uses exactly the
/// keys read from the loader's lists (so those lists are the accepted keys).
const EVERY_KEY: &str = r#"
[schemas.Account]
source = "accounts"
prefix = "main"
primary_key = ["uid"]
timestamps = true
[schemas.Account.fields]
uid = { type = "integer", autogenerate = true }
code = { type = "string", source = "code_col", default = "x" }
score = { type = "float", from = "stats.score" }
[schemas.Account.associations]
parent = { kind = "belongs_to", related = "Account", foreign_key = "parent_uid", references = "uid", type = "integer" }
children = { kind = "has_many", related = "Account", foreign_key = "parent_uid", references = "uid", defaults = { code = "child" } }
grandchildren = { kind = "has_many", through = ["children", "children"] }
groups = { kind = "many_to_many", related = "Group", join_through = "accounts_groups", join_keys = [["account_uid", "uid"], ["group_id", "id"]], defaults = { title = "g" }, join_defaults = { role = "member" }, keyed_by = "title" }
links = { kind = "many_to_many", related = "Account", join_through = "account_links", join_keys = [["from_uid", "uid"], ["to_uid", "uid"]], value_field = "uid", write_related = false }
settings = { kind = "embeds_one", related = "Settings", source = "settings_json" }
[schemas.Account.changesets.changeset]
cast = ["uid", "code", "score", "parent_uid"]
required = ["uid"]
format = { code = '^\w+$' }
length = { code = { min = 1, max = 9, is = 3 } }
number = { score = { greater_than = 0, greater_than_or_equal_to = 0, less_than = 9, less_than_or_equal_to = 9, equal_to = 1, not_equal_to = 2 } }
inclusion = { code = ["abc"] }
exclusion = { code = ["xyz"] }
cast_assoc = ["parent", { name = "children", with = "child" }, "groups"]
cast_embed = ["settings"]
[schemas.Account.changesets.child]
cast = ["uid"]
[schemas.Group]
source = "groups"
fields = { id = "integer", title = "string" }
[schemas.Group.changesets.changeset]
cast = ["id", "title"]
[schemas.Settings]
embedded = true
primary_key = []
fields = { theme = "string" }
[schemas.Settings.changesets.changeset]
cast = ["theme"]

[options]
changeset = "changeset"
chunk_size = 10
max_concurrency = 2
timeout = "infinity"
connect_timeout = 5
max_item_bytes = "64MiB"
statement_timeout = 30
placeholders = { Account = { code = "p" } }
recover_changeset_errors = { Account = { code = "r" } }
replace_all_except = ["code"]
on_conflict = { Group = "nothing" }
conflict_target = { Group = ["id"] }
infer_foreign_keys = true
write_belongs_to = false
prefix = "main"
any_unique_key = false
max_skipped = "5%"
on_error = "reject"
[options.upsert]
chunk_size = 5
[options.insert]
chunk_size = 5
"#;

#[test]
fn a_file_with_every_key_loads() {
    let file = Registry::from_toml_str(EVERY_KEY, "every_key.toml")
        .unwrap_or_else(|e| panic!("the file using every key does not load: {e}"));
    let options = file.options.expect("the [options] table");
    let mut used: BTreeSet<String> = options.keys().cloned().collect();
    used.remove("upsert");
    used.remove("insert");
    let listed: BTreeSet<String> = option_keys().into_iter().map(String::from).collect();
    assert_eq!(used, listed, "EVERY_KEY's [options] and OPTION_KEYS differ");

    // Every key of the schemas part (the TOML keys of the text, minus names chosen here) is
    // in the loader's lists.
    let parsed: toml::Table = toml::from_str(EVERY_KEY).unwrap();
    let mut keys = BTreeSet::new();
    collect_keys(
        &toml::Value::Table(parsed["schemas"].as_table().unwrap().clone()),
        &mut keys,
    );
    let names = [
        "Account",
        "Group",
        "Settings",
        "uid",
        "code",
        "score",
        "id",
        "title",
        "theme",
        "parent",
        "children",
        "grandchildren",
        "groups",
        "links",
        "settings",
        "changeset",
        "child",
        "role",
    ];
    for n in names {
        keys.remove(n);
    }
    let accepted = loader_keys();
    let unlisted: Vec<&String> = keys
        .iter()
        .filter(|k| !accepted.contains(k.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "keys used but not in the loader's lists: {unlisted:?}"
    );
    let unused: Vec<&&str> = accepted
        .iter()
        .filter(|k| !keys.contains(**k) && !["schemas", "options"].contains(k))
        .collect();
    assert!(
        unused.is_empty(),
        "keys of the loader's lists EVERY_KEY does not use: {unused:?}"
    );
}

fn collect_keys(value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                out.insert(k.clone());
                collect_keys(v, out);
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| collect_keys(v, out)),
        _ => {}
    }
}

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation but `-`/`_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn the_doc_links_to_its_own_headings() {
    let anchors: BTreeSet<String> = DOC
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect();
    let mut rest = DOC;
    let mut broken = Vec::new();
    while let Some(i) = rest.find("](#") {
        rest = &rest[i + 3..];
        let end = rest.find(')').expect("a link's end");
        if !anchors.contains(&rest[..end]) {
            broken.push(&rest[..end]);
        }
    }
    assert!(
        broken.is_empty(),
        "links to no heading: {broken:?} (headings: {anchors:?})"
    );
}
