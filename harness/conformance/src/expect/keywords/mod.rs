//! The matcher keywords. A new keyword is one file here, one line in `ALL`, and its example in
//! cases/README.md.

mod contains;
mod distinct;
mod epoch;
mod equals;
mod exists;
mod len;
mod matches;
mod min_max;
mod mls_sender;
mod none_of;
mod one_of;
mod private_message;
mod valid_key_package;

use super::Keyword;

/// A plain value in a case means this.
pub static EQUALS: Keyword = equals::KEYWORD;

pub static ALL: &[Keyword] = &[
    equals::KEYWORD,
    one_of::KEYWORD,
    none_of::KEYWORD,
    matches::KEYWORD,
    contains::KEYWORD,
    len::KEYWORD,
    distinct::KEYWORD,
    min_max::MIN,
    min_max::MAX,
    exists::KEYWORD,
    valid_key_package::KEYWORD,
    private_message::KEYWORD,
    epoch::KEYWORD,
    mls_sender::KEYWORD,
];

/// A list, or a template that fills in as one (a saved list).
fn list(arg: &crate::yaml::Node) -> Result<(), String> {
    use crate::yaml::Node;
    match arg {
        Node::Seq(_) | Node::Str(_) => Ok(()),
        other => Err(format!("needs a list, not {}", other.kind())),
    }
}

/// A count or `{min: N, max: M}` (either bound optional), or a template that fills in as one.
fn range(arg: &crate::yaml::Node) -> Result<(), String> {
    use crate::yaml::Node;
    match arg {
        Node::Int(n) if *n >= 0 => Ok(()),
        Node::Str(s) if s.contains("{{") => Ok(()),
        Node::Map(entries)
            if entries.iter().all(|(k, v)| {
                matches!(k.value.as_str(), "min" | "max") && matches!(v.value, Node::Int(_))
            }) =>
        {
            Ok(())
        }
        _ => Err("needs a number or {min: N, max: M}".into()),
    }
}

/// Whether `n` is within a range argument (an exact number, or `{min, max}`).
fn within(n: u64, arg: &serde_json::Value) -> bool {
    let (min, max) = match arg {
        serde_json::Value::Object(bounds) => (
            bounds.get("min").and_then(serde_json::Value::as_u64),
            bounds.get("max").and_then(serde_json::Value::as_u64),
        ),
        exact => (exact.as_u64(), exact.as_u64()),
    };
    !(min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m))
}

/// Any argument is fine.
fn any(_: &crate::yaml::Node) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::expect::Matchers;
    use crate::yaml::Node;
    use mimi_mls::room::{ratchet_tree, HubSender};
    use mimi_mls::{SimClient, DEFAULT_CIPHERSUITE};
    use openmls::prelude::{BasicCredential, Lifetime};
    use serde_json::Value;

    fn check(yaml: &str, actual: &Value) -> Result<(), String> {
        let node: crate::yaml::Spanned<Node> = serde_saphyr::from_str(yaml).unwrap();
        let matchers = Matchers::parse(&node).unwrap();
        matchers
            .check(&[actual], &minijinja::Value::UNDEFINED)
            .map_err(|(_, e)| e)
    }

    fn rendered(bytes: &[u8]) -> Value {
        mimi_wire::registry::decode_as("MLSMessage", bytes).unwrap()
    }

    /// Real messages from simulated clients: an application PrivateMessage, an add commit, an
    /// external commit.
    fn messages() -> (Value, Value, Value) {
        let hub = SimClient::new("mimi://a.example", DEFAULT_CIPHERSUITE);
        let sender = HubSender {
            signature_key: hub.signature_key().to_vec(),
            credential: BasicCredential::new(b"mimi://a.example".to_vec()).into(),
        };
        let alice = SimClient::new("mimi://a.example/d/alice/1", DEFAULT_CIPHERSUITE);
        let bob = SimClient::new("mimi://b.example/d/bob/1", DEFAULT_CIPHERSUITE);
        let mut group = alice
            .create_room(b"g", &sender, &Default::default())
            .unwrap();
        let added = alice
            .add(&mut group, &[bob.key_package(Lifetime::new(60))])
            .unwrap();
        let application = alice.send(&mut group, b"hi", None).unwrap();
        let (_, external) = SimClient::new("mimi://a.example/d/alice/2", DEFAULT_CIPHERSUITE)
            .join_external(&alice.group_info(&group).unwrap(), &ratchet_tree(&group))
            .unwrap();
        (
            rendered(&application),
            rendered(&added.commit),
            rendered(&external),
        )
    }

    #[test]
    fn several_matchers_must_all_hold() {
        let list: Value = serde_json::json!(["a", "b", "a"]);
        check("{len: 3, contains: b}", &list).unwrap();
        assert!(check("{len: 3, distinct: true}", &list)
            .unwrap_err()
            .contains("\"a\" at 0 and at 2"));
        assert!(check("{contains: c, len: 3}", &list)
            .unwrap_err()
            .contains("to contain \"c\""));
        check("{distinct: true}", &serde_json::json!([1, 2, 3])).unwrap();
        // One keyword unknown among known ones is named; a mapping of no keyword asks for equals.
        let parse = |yaml: &str| {
            let node: crate::yaml::Spanned<Node> = serde_saphyr::from_str(yaml).unwrap();
            Matchers::parse(&node).unwrap_err()
        };
        assert!(parse("{len: 3, unique: true}")[0]
            .1
            .contains("unknown matcher \"unique\""));
        assert!(parse("{a: 1, b: 2}")[0].1.contains("equals"));
    }

    #[test]
    fn mls_matchers_pass_and_fail_on_real_messages() {
        let (application, commit, external) = messages();
        check("{private-message: true}", &application).unwrap();
        assert!(check("{private-message: true}", &commit)
            .unwrap_err()
            .contains("public_message"));
        check("{epoch: 1}", &application).unwrap();
        check("{epoch: 0}", &commit).unwrap();
        assert!(check("{epoch: {min: 2}}", &application)
            .unwrap_err()
            .contains("got 1"));
        check("{mls-sender: member}", &commit).unwrap();
        check("{mls-sender: new_member_commit}", &external).unwrap();
        assert!(check("{mls-sender: external}", &commit)
            .unwrap_err()
            .contains("got member"));
        assert!(
            check("{mls-sender: member}", &application).is_err(),
            "a PrivateMessage hides its sender"
        );
    }
}
