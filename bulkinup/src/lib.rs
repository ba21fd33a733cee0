//! bulkinup
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod changeset;
pub mod error;
pub mod schema;

pub use changeset::Changeset;
pub use error::{DbErrorKind, Error, Result};
pub use schema::{
    AssocDef, AssocKind, ChangesetDef, FieldDef, FieldType, LengthRule, NumberRule, Registry,
    RegistryBuilder, Schema, SchemaDef, Value,
};
