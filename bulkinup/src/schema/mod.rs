//! Schemas: record types mapped to tables, their fields, associations and named changesets,
//! gathered into a [`Registry`].
//!
//! A registry is built either in code with [`SchemaDef`] and [`ChangesetDef`], or from the
//! TOML schema file ([`Registry::from_toml_str`], [`Registry::from_file`]). Both go through
//! [`RegistryBuilder::build`], which resolves every name and reports the first broken
//! reference (unknown related schema, unknown field in `cast`, `cast_assoc` on an association
//! that does not exist or is `through`, bad regex, …) before any database work.
//!
//! ```
//! use bulkinup::{ChangesetDef, FieldType, Registry, SchemaDef};
//!
//! let registry = Registry::builder()
//!     .schema(
//!         SchemaDef::new("Author")
//!             .source("authors")
//!             .field("id", FieldType::Integer)
//!             .field("name", FieldType::String)
//!             .has_many("posts", "Post")
//!             .changeset("changeset", ChangesetDef::new().cast(["id", "name"]).required(["id", "name"]).cast_assoc("posts")),
//!     )
//!     .schema(
//!         SchemaDef::new("Post")
//!             .source("posts")
//!             .field("id", FieldType::Integer)
//!             .field("author_id", FieldType::Integer)
//!             .field("title", FieldType::String)
//!             .changeset("changeset", ChangesetDef::new().cast(["id", "author_id", "title"]).required(["id", "title"])),
//!     )
//!     .build()?;
//! assert_eq!(registry.get("Author")?.source(), Some("authors"));
//! # Ok::<(), bulkinup::Error>(())
//! ```

mod build;
mod def;
mod file;
mod model;
mod path;
mod types;
pub use build::RegistryBuilder;
pub(crate) use build::{DEFAULT_CHANGESET, check_identifier};
pub(crate) use def::RuleDef;
pub use def::{
    AssocDef, AssocKind, ChangesetDef, CustomValidation, FieldDef, LengthRule, NOW, NumberRule,
    SchemaDef,
};
pub use file::SchemaFile;
pub use model::{Association, Field, Registry, Schema};
pub(crate) use model::{DefaultValue, Link, Required, ResolvedChangeset, Rule};
pub use types::{FIELD_TYPE_NAMES, FieldType, Value};
pub(crate) use types::{KeyPart, toml_to_json};
