//! The matcher keywords. A new keyword is one file here, one line in `ALL`, and its example in
//! cases/README.md.

mod contains;
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
    private_message::KEYWORD,
    epoch::KEYWORD,
    mls_sender::KEYWORD,
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

#[cfg(test)]
mod tests {
    use crate::case::node::Node;
    use crate::expect::Matcher;
    use mimi_mls::room::{ratchet_tree, HubSender};
    use mimi_mls::{SimClient, DEFAULT_CIPHERSUITE};
    use openmls::prelude::{BasicCredential, Lifetime};
    use serde_json::Value;

    fn matcher(yaml: &str) -> Matcher {
        let node: serde_saphyr::Spanned<Node> = serde_saphyr::from_str(yaml).unwrap();
        Matcher::parse(&node).unwrap()
    }

    fn check(yaml: &str, actual: &Value) -> Result<(), String> {
        let m = matcher(yaml);
        m.apply(actual, &m.arg.to_json())
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
