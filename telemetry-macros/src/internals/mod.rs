//! Parsing shared by the macros: the error context, attribute readers, serde naming.

mod ctxt;
pub mod name;
pub mod serde_attr;

pub use ctxt::Ctxt;
