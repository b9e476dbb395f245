//! The site of an interop matrix.
