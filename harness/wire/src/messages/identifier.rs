//! `identifierQuery` (P-06 §5.8): a safe, idempotent lookup of users by identifiers.

use super::room_state::AppDataDictionary;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::IdentifierUri;
use crate::fields::{Field, Opaque, Since, Text};
use crate::render::Render;
use crate::{wire_enum, wire_struct};
use serde_json::{json, Value};

wire_enum!(
    /// SearchIdentifierType.
    SearchIdentifierType: u8 {
        reserved = 0, handle = 1, nick = 2, email = 3, phone = 4, partialName = 5,
        wholeProfile = 6, oidcStdClaim = 7, vcardField = 8,
    }
);

/// `QueryElement`: one condition; the conditions of a request all apply (AND).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryElement {
    pub search_type: SearchIdentifierType,
    /// `claimName` for oidcStdClaim, `propertyName` for vcardField.
    pub field_name: Option<Opaque>,
    pub search_value: Opaque,
}

impl Decode for QueryElement {
    const NAME: &'static str = "QueryElement";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let search_type = SearchIdentifierType::read(r, "searchType")?;
        let field_name = match search_type {
            SearchIdentifierType::oidcStdClaim => Some(Field::read(r, "claimName")?),
            SearchIdentifierType::vcardField => Some(Field::read(r, "propertyName")?),
            _ => None,
        };
        Ok(Self {
            search_type,
            field_name,
            search_value: Field::read(r, "searchValue")?,
        })
    }
}

impl Encode for QueryElement {
    fn encode(&self, w: &mut Writer) {
        self.search_type.write(w);
        if let Some(name) = &self.field_name {
            name.write(w);
        }
        self.search_value.write(w);
    }
}

impl Render for QueryElement {
    fn render(&self) -> Value {
        json!({
            "searchType": self.search_type.show(),
            "fieldName": self.field_name.as_ref().map(|n| String::from_utf8_lossy(&n.0).into_owned()),
            "searchValue": String::from_utf8_lossy(&self.search_value.0),
        })
    }
}

wire_struct!(
    /// `IdentifierRequest`.
    IdentifierRequest {
        query_elements: Vec<QueryElement> = "query_elements",
        id_request_extensions: Since<6, AppDataDictionary> = "id_request_extensions",
    }
);

wire_enum!(
    /// IdentifierQueryCode.
    IdentifierQueryCode: u8 { success = 0, notFound = 1, ambiguous = 2, forbidden = 3, unsupportedField = 4 }
);

wire_enum!(
    /// FieldSource.
    FieldSource: u8 { reserved = 0, oidcStdClaim = 7, vcardField = 8 }
);

wire_struct!(
    /// `ProfileField`.
    ProfileField {
        field_source: FieldSource = "fieldSource",
        field_name: Text = "fieldName",
        field_value: Opaque = "fieldValue",
    }
);

wire_struct!(
    /// `UserProfile`.
    UserProfile {
        stable_uri: IdentifierUri = "stableUri",
        fields: Vec<ProfileField> = "fields",
    }
);

wire_struct!(
    /// `IdentifierResponse`.
    IdentifierResponse {
        response_code: IdentifierQueryCode = "responseCode",
        uri: Vec<IdentifierUri> = "uri",
        found_profiles: Vec<UserProfile> = "foundProfiles",
        id_response_extensions: Since<6, AppDataDictionary> = "id_response_extensions",
    }
);
