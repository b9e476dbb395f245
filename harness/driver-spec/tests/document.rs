//! The specification the harness is built with is read strictly: it parses, and each kind of
//! mistake in a document is refused with a message that names it.

use mimi_driver_spec::{spec, DriverSpec, DOCUMENT};

#[test]
fn the_document_parses_and_names_the_operations_cases_use() {
    assert!(DriverSpec::parse(DOCUMENT).is_ok());
    for name in [
        "listUsers",
        "createUser",
        "createRoom",
        "invite",
        "sendMessage",
        "awaitIdle",
    ] {
        assert!(spec().operations.iter().any(|o| o.name == name), "{name}");
    }
}

#[test]
fn a_document_that_breaks_the_rules_is_refused() {
    let good = DOCUMENT;
    let broken = [
        ("openapi: 3.1.0", "openapi: 3.0.3", "is not 3.1.x"),
        (
            "operationId: listUsers",
            "operationId: listUsers\n      summry: x",
            "summry",
        ),
        (
            "#/components/schemas/Users",
            "#/components/schemas/Userz",
            "points at nothing",
        ),
        (
            "/v1/users/{user}/clients",
            "/v1/users/{who}/clients",
            "path variables",
        ),
        ("operationId: createUser", "operationId: listUsers", "twice"),
        (
            "required: [name], additionalProperties: false",
            "required: 7",
            "not a valid JSON Schema",
        ),
    ];
    for (from, to, expected) in broken {
        assert!(good.contains(from), "{from}");
        let error = DriverSpec::parse(&good.replacen(from, to, 1))
            .err()
            .unwrap_or_else(|| panic!("{to:?} was accepted"));
        assert!(error.contains(expected), "{to:?}: {error}");
    }
}
