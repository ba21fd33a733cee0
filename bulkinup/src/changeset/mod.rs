//! Changesets.
mod cast;
pub(crate) use cast::cast_value;

/// A changeset.
#[derive(Debug, Clone)]
pub struct Changeset {}
impl Changeset {
    /// get change
    pub fn get_change(&self, _f: &str) -> Option<&crate::Value> {
        None
    }
    /// add error
    pub fn add_error(&mut self, _f: &str, _m: &str) {}
}
