//! What an exchange holds: its endpoint, found by matching the path against the target's
//! directory (P-06 §5.1: URLs come from there, whatever their shape), and its bodies decoded
//! with mimi-wire as the endpoint's request and response types, in the sender's draft.

use mimi_wire::codec::{decode_exact_as, Draft};
use mimi_wire::messages::directory::{Directory, DIRECTORY_PATH};
use mimi_wire::messages::key_material::{KeyMaterialRequest, KeyMaterialResponse};
use mimi_wire::messages::notify::NotifyBody;
use mimi_wire::messages::submit::{SubmitMessageRequest, SubmitMessageResponse};
use mimi_wire::messages::update::{HandshakeBundle, UpdateRoomResponse};
use mimi_wire::registry::{decode_as_draft, endpoint_types};
use mimi_wire::Render;

/// The endpoint (directory key) a request path belongs to, and its path variable.
pub fn classify(
    directory: Option<&Directory>,
    target: &str,
    path: &str,
) -> Option<(String, Option<String>)> {
    let path = path.split('?').next().unwrap_or_default();
    if path == DIRECTORY_PATH {
        return Some(("directory".into(), None));
    }
    directory?.endpoints.iter().find_map(|(name, template)| {
        let (host, template_path) = split_url(template)?;
        if !host.eq_ignore_ascii_case(target) {
            return None;
        }
        match_template(template_path, path).map(|key| (name.clone(), key))
    })
}

/// `https://host[:port]/path` → (host, /path).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://")?;
    let slash = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..slash];
    let host = authority.split(':').next().unwrap_or(authority);
    Some((host, &rest[slash..]))
}

/// Matches a path against a template whose `{name}` stands for one variable; the variable
/// runs to the next literal character of the template (to the end when it is last, so that
/// an unencoded `a.example/r/x` matches too). Returns the variable, percent-decoded.
fn match_template(template: &str, path: &str) -> Option<Option<String>> {
    let mut key = None;
    let (mut t, mut p) = (template, path);
    loop {
        match t.find('{') {
            None => return (t == p).then_some(key),
            Some(open) => {
                let (literal, rest) = t.split_at(open);
                p = p.strip_prefix(literal)?;
                let close = rest.find('}')?;
                t = &rest[close + 1..];
                let value = match t.chars().next() {
                    None => std::mem::take(&mut p),
                    Some(next) => {
                        let end = p.find(next)?;
                        let (value, remaining) = p.split_at(end);
                        p = remaining;
                        value
                    }
                };
                if value.is_empty() {
                    return None;
                }
                key = Some(
                    percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
        }
    }
}

/// A body as the checks see it: absent, decoded, or not decodable (why).
#[derive(Debug, Clone)]
pub enum Parsed<T> {
    Absent,
    Decoded(T),
    Malformed(String),
}

impl<T> Parsed<T> {
    pub fn decoded(&self) -> Option<&T> {
        match self {
            Parsed::Decoded(t) => Some(t),
            _ => None,
        }
    }
}

/// The request bodies the checks look into; the others are only checked for form.
#[derive(Debug, Clone)]
pub enum RequestBody {
    KeyMaterial(KeyMaterialRequest),
    Update(HandshakeBundle),
    Submit(SubmitMessageRequest),
    Notify(NotifyBody),
    Other,
}

#[derive(Debug, Clone)]
pub enum ResponseBody {
    KeyMaterial(KeyMaterialResponse),
    Update(UpdateRoomResponse),
    Submit(SubmitMessageResponse),
    Directory(Directory),
    Other,
}

/// A decoded body and its rendering for the record.
pub struct Decoding<T> {
    pub parsed: Parsed<T>,
    pub type_name: Option<&'static str>,
    pub rendered: Option<serde_json::Value>,
}

impl<T> Decoding<T> {
    fn absent() -> Self {
        Self {
            parsed: Parsed::Absent,
            type_name: None,
            rendered: None,
        }
    }
}

fn typed<T: mimi_wire::Decode + Render, U>(
    name: &'static str,
    bytes: &[u8],
    draft: Draft,
    wrap: fn(T) -> U,
) -> Decoding<U> {
    match decode_exact_as::<T>(bytes, draft) {
        Ok(t) => Decoding {
            rendered: Some(t.render()),
            parsed: Parsed::Decoded(wrap(t)),
            type_name: Some(name),
        },
        Err(e) => Decoding {
            parsed: Parsed::Malformed(format!("not a valid {name}: {e}")),
            type_name: Some(name),
            rendered: None,
        },
    }
}

fn rendered_only<U>(name: &'static str, bytes: &[u8], draft: Draft, other: U) -> Decoding<U> {
    match decode_as_draft(name, bytes, draft, Default::default()) {
        Ok(v) => Decoding {
            parsed: Parsed::Decoded(other),
            type_name: Some(name),
            rendered: Some(v),
        },
        Err(e) => Decoding {
            parsed: Parsed::Malformed(e),
            type_name: Some(name),
            rendered: None,
        },
    }
}

/// Decodes a request body as the endpoint's request type.
pub fn request(endpoint: &str, bytes: &[u8], draft: Draft) -> Decoding<RequestBody> {
    let Some(name) = endpoint_types(endpoint).0 else {
        return Decoding::absent();
    };
    match endpoint {
        "keyMaterial" => typed(name, bytes, draft, RequestBody::KeyMaterial),
        "update" => typed(name, bytes, draft, RequestBody::Update),
        "submitMessage" => typed(name, bytes, draft, RequestBody::Submit),
        "notify" => typed(name, bytes, draft, RequestBody::Notify),
        _ => rendered_only(name, bytes, draft, RequestBody::Other),
    }
}

/// Decodes a successful response body as the endpoint's response type; the endpoints that
/// answer with no body (notify, consent, reportAbuse) have none to decode.
pub fn response(endpoint: &str, bytes: &[u8], draft: Draft) -> Decoding<ResponseBody> {
    let Some(name) = endpoint_types(endpoint).1 else {
        return Decoding::absent();
    };
    match endpoint {
        "keyMaterial" => typed(name, bytes, draft, ResponseBody::KeyMaterial),
        "update" => typed(name, bytes, draft, ResponseBody::Update),
        "submitMessage" => typed(name, bytes, draft, ResponseBody::Submit),
        "directory" => match Directory::parse(bytes) {
            Ok(d) => Decoding {
                rendered: serde_json::from_slice(bytes).ok(),
                parsed: Parsed::Decoded(ResponseBody::Directory(d)),
                type_name: Some(name),
            },
            Err(e) => Decoding {
                parsed: Parsed::Malformed(e),
                type_name: Some(name),
                rendered: None,
            },
        },
        _ => rendered_only(name, bytes, draft, ResponseBody::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn directory() -> Directory {
        Directory {
            endpoints: BTreeMap::from([
                (
                    "keyMaterial".to_string(),
                    "https://b.example/v1/keyMaterial/{targetUser}".to_string(),
                ),
                (
                    "update".to_string(),
                    "https://b.example/v1/update{roomId}".to_string(),
                ),
                (
                    "notify".to_string(),
                    "https://b.example/notify/{roomId}/now".to_string(),
                ),
            ]),
            others: Default::default(),
        }
    }

    #[test]
    fn paths_are_classified_through_the_directory() {
        let d = directory();
        assert_eq!(
            classify(
                Some(&d),
                "b.example",
                "/v1/keyMaterial/mimi%3A%2F%2Fb.example%2Fu%2Fbob"
            ),
            Some((
                "keyMaterial".into(),
                Some("mimi://b.example/u/bob".to_string())
            ))
        );
        // The draft's defective template without a slash, and an unencoded room.
        assert_eq!(
            classify(Some(&d), "b.example", "/v1/updatea.example/r/x"),
            Some(("update".into(), Some("a.example/r/x".to_string())))
        );
        assert_eq!(
            classify(Some(&d), "b.example", "/notify/r1/now"),
            Some(("notify".into(), Some("r1".to_string())))
        );
        assert_eq!(
            classify(Some(&d), "b.example", DIRECTORY_PATH),
            Some(("directory".into(), None))
        );
        assert_eq!(classify(Some(&d), "b.example", "/notify/r1/later"), None);
        assert_eq!(classify(Some(&d), "c.example", "/v1/keyMaterial/x"), None);
        assert_eq!(classify(None, "b.example", "/v1/keyMaterial/x"), None);
        assert_eq!(classify(Some(&d), "b.example", "/v1/keyMaterial/"), None);
    }

    #[test]
    fn hostile_bodies_are_malformed_not_panics() {
        for endpoint in [
            "keyMaterial",
            "update",
            "submitMessage",
            "notify",
            "groupInfo",
            "requestConsent",
            "identifierQuery",
            "reportAbuse",
        ] {
            for body in [&[][..], &[0xff; 7][..], &[1, 0x7f, 0xff, 0xff, 0xff][..]] {
                assert!(matches!(
                    request(endpoint, body, Draft::D06).parsed,
                    Parsed::Malformed(_)
                ));
            }
        }
        assert!(matches!(
            response("directory", b"[1]", Draft::D06).parsed,
            Parsed::Malformed(_)
        ));
    }
}
