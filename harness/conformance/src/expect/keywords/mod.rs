//! The matcher keywords. A new keyword is one file here, one line in `ALL`, and its example in
//! cases/README.md.

mod contains;
mod equals;
mod exists;
mod len;
mod matches;
mod min_max;
mod none_of;
mod one_of;
mod valid_key_package;

use super::Keyword;

pub static ALL: &[Keyword] = &[
    equals::KEYWORD,
    one_of::KEYWORD,
    none_of::KEYWORD,
    matches::KEYWORD,
    contains::KEYWORD,
    len::KEYWORD,
    min_max::MIN,
    min_max::MAX,
    exists::KEYWORD,
    valid_key_package::KEYWORD,
];

/// A list, or a template that fills in as one (a saved list).
fn list(arg: &crate::case::node::Node) -> Result<(), String> {
    use crate::case::node::Node;
    match arg {
        Node::Seq(_) | Node::Str(_) => Ok(()),
        other => Err(format!("needs a list, not {}", other.kind())),
    }
}

/// Any argument is fine.
fn any(_: &crate::case::node::Node) -> Result<(), String> {
    Ok(())
}
