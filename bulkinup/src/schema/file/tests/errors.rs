//! The loader's errors: the key path, the position and the wording of each.

use super::*;

#[test]
fn unknown_top_level_key() {
    let m = load_err(&format!("{TAG}\n[extra]\nx = 1\n"));
    assert_contains(
        &m,
        &[
            "unknown key `extra`",
            "valid: schemas, options",
            "t.toml:5:2",
        ],
    );
}

#[test]
fn unknown_schema_key() {
    let m = load_err(&format!("{TAG}tabel = \"x\"\n"));
    assert_contains(
        &m,
        &["`schemas.Tag.tabel`", "unknown key `tabel`", "t.toml:4:1"],
    );
}

#[test]
fn unknown_changeset_key() {
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\ncast = [\"id\"]\ncasts = [\"id\"]\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.casts`",
            "unknown key `casts`",
            "valid: cast, required,",
            "t.toml:6:1",
        ],
    );
}

#[test]
fn unknown_nested_keys() {
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\nlength = {{ name = {{ minimum = 1 }} }}\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.length.name.minimum`",
            "t.toml:5:21",
        ],
    );
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\nnumber = {{ id = {{ greater = 1 }} }}\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.number.id.greater`",
            "t.toml:5:19",
        ],
    );
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\ncast_assoc = [{{ name = \"x\", using = \"y\" }}]\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.cast_assoc[0].using`",
            "t.toml:5:29",
        ],
    );
    let m = load_err(
        "[schemas.Tag]\nsource = \"tags\"\nfields = { id = { type = \"integer\", column = \"x\" } }\n",
    );
    assert_contains(&m, &["`schemas.Tag.fields.id.column`", "t.toml:3:37"]);
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.associations]\nposts = {{ kind = \"has_many\", related = \"Tag\", fk = \"x\" }}\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.associations.posts.fk`",
            "unknown key `fk`",
            "t.toml:5:47",
        ],
    );
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.associations]\nposts = {{ kind = \"has_many\", related = \"Tag\", join_through = \"x\" }}\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.associations.posts.join_through`",
            "does not apply to a `has_many`",
            "t.toml:5:47",
        ],
    );
}

#[test]
fn wrong_value_type() {
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\ncast = \"id\"\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.cast`",
            "expected an array, found string",
            "t.toml:5:8",
        ],
    );
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\nrequired = [\"id\", 2]\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.required[1]`",
            "t.toml:5:19",
        ],
    );
    let m = load_err(&format!("{TAG}embedded = \"yes\"\n"));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.embedded`",
            "expected a boolean",
            "t.toml:4:12",
        ],
    );
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\nlength = {{ name = {{ min = -1 }} }}\n"
    ));
    assert_contains(
        &m,
        &[
            "`schemas.Tag.changesets.changeset.length.name.min`",
            "-1",
            "t.toml:5:27",
        ],
    );
    let m = load_err("schemas = 3\n");
    assert_contains(&m, &["`schemas`", "expected a table", "t.toml:1:11"]);
    let m = load_err(&format!("{TAG}options = [1]\n"));
    assert_contains(&m, &["`schemas.Tag.options`", "unknown key"]);
}

#[test]
fn unknown_field_in_cast_carries_the_cast_position() {
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\nrequired = [\"id\"]\ncast = [\"id\", \"nme\"]\n"
    ));
    assert_contains(
        &m,
        &[
            "schema `Tag`",
            "`changesets.changeset.cast`",
            "unknown field `nme`",
            "t.toml:6:1",
        ],
    );
}

#[test]
fn unknown_related_schema() {
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.associations]\nposts = {{ kind = \"has_many\", related = \"Psot\" }}\n"
    ));
    assert_contains(
        &m,
        &[
            "schema `Tag`",
            "`associations.posts.related`",
            "unknown related schema `Psot`",
            "t.toml:5:30",
        ],
    );
}

#[test]
fn cast_assoc_of_a_through_association() {
    let m = load_err(
        r#"[schemas.Author]
source = "authors"
fields = { id = "integer" }
[schemas.Author.associations]
posts = { kind = "has_many", related = "Post" }
comments = { kind = "has_many", through = ["posts", "comments"] }
[schemas.Author.changesets.changeset]
cast = ["id"]
cast_assoc = ["comments"]
[schemas.Post]
source = "posts"
fields = { id = "integer", author_id = "integer" }
"#,
    );
    assert_contains(
        &m,
        &[
            "schema `Author`",
            "`changesets.changeset.cast_assoc`",
            "`through` association",
            "t.toml:9:1",
        ],
    );
}

#[test]
fn bad_regex() {
    let m = load_err(&format!(
        "{TAG}[schemas.Tag.changesets.changeset]\ncast = [\"name\"]\nformat = {{ name = '^(' }}\n"
    ));
    assert_contains(
        &m,
        &[
            "`changesets.changeset.format.name`",
            "invalid regex",
            "t.toml:6:12",
        ],
    );
}

#[test]
fn unknown_field_type() {
    let m = load_err("[schemas.Tag]\nsource = \"tags\"\nfields = { id = \"integr\" }\n");
    assert_contains(
        &m,
        &[
            "`schemas.Tag.fields.id`",
            "unknown field type `integr`",
            "valid: id, integer, float",
            "t.toml:3:17",
        ],
    );
    let m = load_err(
        "[schemas.Tag]\nsource = \"tags\"\nfields = { id = \"integer\" }\n[schemas.Tag.associations]\nx = { kind = \"has_few\", related = \"Tag\" }\n",
    );
    assert_contains(
        &m,
        &[
            "`schemas.Tag.associations.x.kind`",
            "unknown association kind `has_few`",
            "has_many",
            "t.toml:5:14",
        ],
    );
}

#[test]
fn toml_syntax_error() {
    let m = load_err("[schemas.Tag]\nsource = \"tags\nfields = { id = \"integer\" }\n");
    assert_contains(&m, &["invalid TOML", "t.toml:2:"]);
    let m = load_err("[schemas.Tag]\nsource = \"tags\"\nsource = \"x\"\n");
    assert_contains(&m, &["invalid TOML", "duplicate key", "t.toml:3:1"]);
}

#[test]
fn columns_count_characters() {
    let m = load_err(
        "# é\n[schemas.Tag]\nsource = \"tägs\"\nfields = { id = \"integer\" }\nx = { \"é\" = 1 }\n",
    );
    assert_contains(&m, &["`schemas.Tag.x`", "t.toml:5:1"]);
    let m = load_err(
        "[schemas.Tag]\nsource = \"tags\"\nfields = { \"é\" = \"integer\", x = \"bad\" }\n",
    );
    assert_contains(&m, &["`schemas.Tag.fields.x`", "t.toml:3:33"]);
    // A syntax error after a two-byte character: the column counts characters.
    let m = load_err("[schemas.Tag]\nx = { é = 1 }\n");
    assert_contains(&m, &["invalid TOML", "t.toml:2:7"]);
}

#[test]
fn no_schemas_is_an_error() {
    let m = load_err("[options]\nchunk_size = 1\n");
    assert_contains(&m, &["defines no schema", "t.toml:1:1"]);
}
