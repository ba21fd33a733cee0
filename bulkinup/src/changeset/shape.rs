//! The shapes a `has_many`, `many_to_many` or `embeds_many` value may take: an array of
//! objects, an array of scalars (`value_field`), a map keyed by a field of the children
//! (`keyed_by`); and the elements of a link-only `many_to_many` (`write_related = false`),
//! cast for their join key alone.

use std::sync::Arc;

use serde_json::Value as J;

use super::{CastCtx, Changeset, cast_child, cast_value, is_blank, no_changes};
use crate::schema::{Association, Registry, Schema};

/// What the children of one association are cast with.
pub(super) struct Many<'a> {
    pub(super) registry: &'a Registry,
    pub(super) related: &'a Arc<Schema>,
    pub(super) assoc: &'a Association,
    /// The related schema's changeset.
    pub(super) with: &'a str,
    pub(super) ctx: &'a CastCtx<'a>,
    /// The foreign key inferred from the parent (`infer_foreign_keys`).
    pub(super) inherit: Option<(usize, J)>,
}

impl Many<'_> {
    /// The children of the association's value `raw`, in order (a keyed map's in the order
    /// of its keys), or the association's error when the value has a shape it does not
    /// take.
    pub(super) fn cast(&self, raw: &J) -> Result<Vec<Changeset>, String> {
        let none = J::Object(serde_json::Map::new());
        match raw {
            J::Array(items) => items
                .iter()
                .map(|item| match (item, self.assoc.value_field) {
                    (J::Object(_), _) => Ok(self.child(item, &[])),
                    (J::Array(_), _) | (_, None) => Err("is invalid".to_string()),
                    (scalar, Some(vf)) => Ok(self.child(&none, &[(vf, scalar)])),
                })
                .collect(),
            J::Object(entries) => {
                let Some(kf) = self.assoc.keyed_by else {
                    return Err("is invalid".to_string());
                };
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = J::String(k.clone());
                        match (v, self.assoc.value_field) {
                            (J::Object(_), _) => Ok(self.child(v, &[(kf, &key)])),
                            (J::Array(_), _) => {
                                Err(format!("is invalid: the value of {key} is an array"))
                            }
                            (_, None) => Err(format!(
                                "is invalid: the value of {key} is not an object (the association has no value_field for it)"
                            )),
                            (scalar, Some(vf)) => {
                                Ok(self.child(&none, &[(kf, &key), (vf, scalar)]))
                            }
                        }
                    })
                    .collect()
            }
            _ => Err("is invalid".to_string()),
        }
    }

    /// One child from its attrs (an object) and the fields its place gives (`entry`).
    fn child(&self, attrs: &J, entry: &[(usize, &J)]) -> Changeset {
        match self.assoc.link_only() {
            Some(key) => link(self.related, key, attrs, entry),
            None => cast_child(
                self.registry,
                self.related,
                self.with,
                attrs,
                self.ctx,
                self.inherit.clone(),
                &self.assoc.defaults,
                entry,
            ),
        }
    }
}

/// An element of a link-only association: only its join key `key`, from `entry` or else the
/// attrs, is cast; it must be present and not blank (`can't be blank`) and cast to its type
/// (`is invalid`). No changeset of the related schema runs.
fn link(related: &Arc<Schema>, key: usize, attrs: &J, entry: &[(usize, &J)]) -> Changeset {
    let mut cs = Changeset {
        schema: Arc::clone(related),
        changes: no_changes(related.fields.len()),
        assocs: Vec::new(),
        errors: Vec::new(),
        valid: true,
    };
    let field = &related.fields[key];
    let raw = entry
        .iter()
        .find(|(f, _)| *f == key)
        .map(|(_, v)| *v)
        .or_else(|| field.read(attrs));
    match raw.map(|raw| cast_value(&field.ty, raw)) {
        Some(Ok(v)) if !is_blank(&v) => cs.changes[key] = Some(v),
        Some(Err(())) => cs.add_error(&field.name, "is invalid"),
        _ => cs.add_error(&field.name, "can't be blank"),
    }
    cs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{AssocDef, AssocKind, Changeset, ChangesetDef, FieldType, Registry, SchemaDef};

    /// Countries with languages keyed by an integer code, currencies keyed by code (whose
    /// changeset casts only `name`) and link-only borders.
    fn registry() -> Registry {
        let child = |name: &str, code: FieldType| {
            SchemaDef::new(name)
                .source(name)
                .primary_key(["country", "code"])
                .field("country", FieldType::String)
                .field("code", code)
                .field("name", FieldType::String)
        };
        let keyed = |name: &str, related: &str| {
            AssocDef::new(name, AssocKind::HasMany, related)
                .foreign_key("country")
                .references("cca3")
                .keyed_by("code")
        };
        Registry::builder()
            .schema(
                SchemaDef::new("Country")
                    .source("countries")
                    .primary_key(["cca3"])
                    .field("cca3", FieldType::String)
                    .field("name", FieldType::String)
                    .assoc(keyed("languages", "Language").value_field("name"))
                    .assoc(keyed("currencies", "Currency"))
                    .assoc(
                        AssocDef::new("borders", AssocKind::ManyToMany, "Country")
                            .join_through("borders")
                            .join_keys(("a", "cca3"), ("b", "cca3"))
                            .value_field("cca3")
                            .write_related(false),
                    ),
            )
            .schema(child("Language", FieldType::Integer))
            .schema(
                child("Currency", FieldType::String)
                    .changeset("changeset", ChangesetDef::new().cast(["name"])),
            )
            .build()
            .unwrap()
    }

    fn errors(attrs: serde_json::Value) -> serde_json::Value {
        let cs = Changeset::cast(&registry(), "Country", "changeset", &attrs).unwrap();
        cs.errors_json()
    }

    #[test]
    fn a_keyed_map_gives_children_in_key_order_the_key_winning_over_the_object() {
        let attrs = json!({"cca3": "X", "currencies": {
            "USD": {"name": "dollar"},
            "EUR": {"code": "XXX", "name": "euro"},
        }});
        let cs = Changeset::cast(&registry(), "Country", "changeset", &attrs).unwrap();
        assert!(cs.is_valid());
        // `code` is not cast by Currency's changeset: the key is set all the same.
        assert_eq!(
            cs.changes_json()["currencies"],
            json!([{"code": "EUR", "name": "euro"}, {"code": "USD", "name": "dollar"}])
        );
    }

    #[test]
    fn a_keyed_map_value_of_the_wrong_shape_is_an_error_on_the_association() {
        assert_eq!(
            errors(json!({"cca3": "X", "languages": {"1": ["a"]}})),
            json!({"languages": ["is invalid: the value of \"1\" is an array"]})
        );
        assert_eq!(
            errors(json!({"cca3": "X", "languages": 3})),
            json!({"languages": ["is invalid"]})
        );
        // A scalar value with no `value_field` to hold it.
        assert_eq!(
            errors(json!({"cca3": "X", "currencies": {"EUR": "euro"}})),
            json!({"currencies": ["is invalid: the value of \"EUR\" is not an object (the association has no value_field for it)"]})
        );
        // A scalar element likewise (Ecto's message).
        assert_eq!(
            errors(json!({"cca3": "X", "currencies": ["EUR"]})),
            json!({"currencies": ["is invalid"]})
        );
    }

    #[test]
    fn a_key_that_does_not_cast_is_invalid_on_the_child() {
        assert_eq!(
            errors(json!({"cca3": "X", "languages": {"nld": "Dutch"}})),
            json!({"languages": [{"code": ["is invalid"]}]})
        );
    }

    #[test]
    fn an_array_element_that_is_an_array_is_invalid() {
        assert_eq!(
            errors(json!({"cca3": "X", "borders": [["AUT"]]})),
            json!({"borders": ["is invalid"]})
        );
    }

    #[test]
    fn a_link_element_without_its_key_is_blank_and_one_of_the_wrong_type_invalid() {
        assert_eq!(
            errors(
                json!({"cca3": "X", "borders": [{"name": "Austria"}, "", null, {"cca3": 5}, "BEL"]})
            ),
            json!({"borders": [
                {"cca3": ["can't be blank"]},
                {"cca3": ["can't be blank"]},
                {"cca3": ["can't be blank"]},
                {"cca3": ["is invalid"]},
                {},
            ]})
        );
    }
}
