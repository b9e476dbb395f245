//! The draft switch: the same structure on the wire of -04, -05 and -06.

use mimi_wire::codec::{decode_exact_as, Draft, Encode};
use mimi_wire::common::IdentifierUri;
use mimi_wire::fields::{Opaque, Since};
use mimi_wire::messages::consent::{ConsentEntry, ConsentOperation};
use mimi_wire::messages::submit::Frank;

fn frank() -> Frank {
    Frank {
        server_frank: [7; 32],
        franking_signature_ciphersuite: Since(Some(1)),
        franking_integrity_signature: Opaque(vec![9; 64]),
    }
}

#[test]
fn frank_has_its_ciphersuite_from_05_on() {
    let d04 = frank().to_bytes_as(Draft::D04);
    let d05 = frank().to_bytes_as(Draft::D05);
    assert_eq!(
        d05.len(),
        d04.len() + 2,
        "franking_signature_ciphersuite is a uint16 added in -05"
    );
    assert_eq!(decode_exact_as::<Frank>(&d05, Draft::D05).unwrap(), frank());
    let old = decode_exact_as::<Frank>(&d04, Draft::D04).unwrap();
    assert_eq!(old.franking_signature_ciphersuite, Since(None));
    // Read with the wrong revision, the bytes do not fit.
    assert!(decode_exact_as::<Frank>(&d04, Draft::D05).is_err());
}

#[test]
fn consent_entry_has_extensions_from_06_on() {
    let entry = ConsentEntry {
        consent_operation: ConsentOperation::request,
        requester_uri: IdentifierUri("mimi://a.example/u/alice".into()),
        target_uri: IdentifierUri("mimi://b.example/u/bob".into()),
        room_id: None,
        client_key_packages: vec![],
        consent_extensions: Since(Some(Default::default())),
    };
    let d05 = entry.to_bytes_as(Draft::D05);
    let d06 = entry.to_bytes_as(Draft::D06);
    assert_eq!(
        d06.len(),
        d05.len() + 1,
        "an empty AppDataDictionary is one byte"
    );
    assert_eq!(
        decode_exact_as::<ConsentEntry>(&d06, Draft::D06).unwrap(),
        entry
    );
    assert_eq!(
        decode_exact_as::<ConsentEntry>(&d05, Draft::D05)
            .unwrap()
            .consent_extensions,
        Since(None)
    );
}
