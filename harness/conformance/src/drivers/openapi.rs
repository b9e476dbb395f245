//! The driver API's specification, `fixtures/driver-api/openapi.yaml`, read strictly: the
//! operations the case format knows are the document's, and every driver answer is checked
//! against the status codes and JSON Schemas the document declares for it, so that a vendor's
//! driver that drifts from the specification is named as such instead of failing MIMI cases.

use crate::case::model::DriverOperation;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub const DOCUMENT: &str = include_str!("../../../../fixtures/driver-api/openapi.yaml");
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

// The subset of OpenAPI 3.1 the document uses; any other key is an error, so a typo cannot
// silently drop a constraint.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    openapi: String,
    #[allow(dead_code)] // Read only to refuse a document without it.
    info: Info,
    security: Vec<BTreeMap<String, Vec<String>>>,
    paths: BTreeMap<String, BTreeMap<String, OperationObject>>,
    components: Components,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Info {
    title: String,
    version: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperationObject {
    operation_id: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    parameters: Vec<Value>,
    #[serde(default)]
    request_body: Option<RequestBody>,
    responses: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    required: bool,
    content: BTreeMap<String, MediaType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaType {
    schema: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseObject {
    #[allow(dead_code)] // Required by OpenAPI; read only to refuse a response without one.
    description: String,
    #[serde(default)]
    content: BTreeMap<String, MediaType>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameter {
    name: String,
    #[serde(rename = "in")]
    location: String,
    required: bool,
    schema: Value,
    #[allow(dead_code)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Components {
    security_schemes: BTreeMap<String, Value>,
    // Reached through `$ref`s in the raw document; declared so that other keys are refused.
    #[allow(dead_code)]
    parameters: BTreeMap<String, Value>,
    #[allow(dead_code)]
    responses: BTreeMap<String, Value>,
    schemas: BTreeMap<String, Value>,
}

/// One operation: its operationId (the name cases use), method and path template.
pub struct Operation {
    pub name: String,
    pub method: String,
    pub path: String,
    request: Option<jsonschema::Validator>,
    /// Status code → the schema of its JSON body (None: no body is specified).
    responses: BTreeMap<u16, Option<jsonschema::Validator>>,
}

pub struct DriverSpec {
    pub operations: Vec<Operation>,
    /// For each operation the case model knows, in its declaration order: its index here.
    known: Vec<usize>,
}

/// The specification the harness was built with (checked by this crate's tests).
pub fn spec() -> &'static DriverSpec {
    static SPEC: OnceLock<DriverSpec> = OnceLock::new();
    SPEC.get_or_init(|| DriverSpec::parse(DOCUMENT).expect("fixtures/driver-api/openapi.yaml"))
}

pub fn operation(name: &str) -> Option<&'static Operation> {
    spec().operations.iter().find(|o| o.name == name)
}

impl DriverSpec {
    /// The operation a case's `driver` step names (the document declares every one).
    pub fn get(&self, op: DriverOperation) -> &Operation {
        &self.operations[self.known[op as usize]]
    }
}

impl DriverSpec {
    /// Reads and checks the document: OpenAPI 3.1, every `$ref` resolves, every path variable
    /// is a required path parameter, operationIds are unique, every schema is a valid JSON
    /// Schema (2020-12), and every security requirement names a declared scheme.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let document: Document = serde_json::from_value(raw.clone())
            .map_err(|e| format!("not the expected OpenAPI: {e}"))?;
        let minor = document.openapi.strip_prefix("3.1.");
        if !minor.is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("openapi {:?} is not 3.1.x", document.openapi));
        }
        for requirement in &document.security {
            for scheme in requirement.keys() {
                if !document.components.security_schemes.contains_key(scheme) {
                    return Err(format!("security names {scheme:?}, which is not declared"));
                }
            }
        }
        for (name, schema) in &document.components.schemas {
            compile(&raw, schema).map_err(|e| format!("components.schemas.{name}: {e}"))?;
        }
        let mut operations: Vec<Operation> = Vec::new();
        for (path, item) in &document.paths {
            for (method, op) in item {
                let at = format!("{method} {path}");
                if !METHODS.contains(&method.as_str()) {
                    return Err(format!("{at}: unknown method"));
                }
                if operations.iter().any(|o| o.name == op.operation_id) {
                    return Err(format!("{at}: operationId {} twice", op.operation_id));
                }
                operations
                    .push(operation_of(&raw, path, method, op).map_err(|e| format!("{at}: {e}"))?);
            }
        }
        // The case model's vocabulary and the document name the same operations.
        let known = DriverOperation::ALL
            .iter()
            .map(|op| {
                operations
                    .iter()
                    .position(|o| o.name == op.name())
                    .ok_or_else(|| {
                        format!("the case model's operation {} is not declared", op.name())
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(extra) = operations
            .iter()
            .find(|o| DriverOperation::parse(&o.name).is_none())
        {
            return Err(format!(
                "operationId {} is not one the case model knows (crate::case::model::DriverOperation)",
                extra.name
            ));
        }
        Ok(DriverSpec { operations, known })
    }
}

fn operation_of(
    raw: &Value,
    path: &str,
    method: &str,
    op: &OperationObject,
) -> Result<Operation, String> {
    let mut declared = Vec::new();
    for parameter in &op.parameters {
        let parameter: Parameter = serde_json::from_value(resolve(raw, parameter)?)
            .map_err(|e| format!("parameter: {e}"))?;
        if parameter.location != "path" || !parameter.required {
            return Err(format!(
                "parameter {} must be a required path parameter",
                parameter.name
            ));
        }
        compile(raw, &parameter.schema)?;
        declared.push(parameter.name);
    }
    let variables: Vec<&str> = path
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(v, _)| v))
        .collect();
    if variables.len() != declared.len()
        || variables.iter().any(|v| !declared.iter().any(|d| d == v))
    {
        return Err(format!(
            "path variables {variables:?} but parameters {declared:?}"
        ));
    }
    let request = match &op.request_body {
        Some(body) => {
            if !body.required {
                return Err("a request body must be required".into());
            }
            Some(compile(raw, &json_schema(&body.content)?)?)
        }
        None => None,
    };
    let mut responses = BTreeMap::new();
    for (status, response) in &op.responses {
        let code: u16 = status
            .parse()
            .map_err(|_| format!("response {status:?} is not a status code"))?;
        let response: ResponseObject = serde_json::from_value(resolve(raw, response)?)
            .map_err(|e| format!("response {status}: {e}"))?;
        let schema = if response.content.is_empty() {
            None
        } else {
            Some(compile(raw, &json_schema(&response.content)?)?)
        };
        responses.insert(code, schema);
    }
    Ok(Operation {
        name: op.operation_id.clone(),
        method: method.to_uppercase(),
        path: path.to_string(),
        request,
        responses,
    })
}

fn json_schema(content: &BTreeMap<String, MediaType>) -> Result<Value, String> {
    match (content.len(), content.get("application/json")) {
        (1, Some(media)) => Ok(media.schema.clone()),
        _ => Err("content must be application/json only".into()),
    }
}

/// A `{"$ref": "#/..."}` replaced by what it points at; anything else as it is.
fn resolve(raw: &Value, value: &Value) -> Result<Value, String> {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("$ref {reference:?} is not local"))?;
            let target = raw
                .pointer(pointer)
                .ok_or_else(|| format!("$ref {reference:?} points at nothing"))?;
            resolve(raw, target)
        }
        None => Ok(value.clone()),
    }
}

/// Every `$ref` inside a schema inlined (the document's schemas are not recursive).
fn inline(raw: &Value, value: &Value, depth: usize) -> Result<Value, String> {
    if depth > 16 {
        return Err("schema references nest too deep (a cycle?)".into());
    }
    Ok(match resolve(raw, value)? {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, inline(raw, &v, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| inline(raw, v, depth + 1))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

fn compile(raw: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut schema = inline(raw, schema, 0)?;
    if let Value::Object(map) = &mut schema {
        map.insert("$schema".into(), DIALECT.into());
    }
    jsonschema::meta::validate(&schema).map_err(|e| format!("not a valid JSON Schema: {e}"))?;
    jsonschema::draft202012::new(&schema).map_err(|e| e.to_string())
}

fn first_error(validator: &jsonschema::Validator, value: &Value) -> Option<String> {
    validator
        .iter_errors(value)
        .next()
        .map(|e| format!("at {:?}: {e}", e.instance_path().to_string()))
}

impl Operation {
    /// Whether a request body is what the specification asks for.
    pub fn check_request(&self, json: Option<&Value>) -> Result<(), String> {
        match (&self.request, json) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(format!("{} takes no request body", self.name)),
            (Some(_), None) => Err(format!("{} needs a request body", self.name)),
            (Some(v), Some(json)) => match first_error(v, json) {
                None => Ok(()),
                Some(e) => Err(format!("the request body of {} {e}", self.name)),
            },
        }
    }

    /// Whether an answer is one the specification allows: a declared status, and a body that
    /// its schema accepts.
    pub fn check_response(&self, status: u16, body: &[u8]) -> Result<(), String> {
        let Some(schema) = self.responses.get(&status) else {
            return Err(format!(
                "{} answered {status}, which the specification does not declare (it declares {:?})",
                self.name,
                self.responses.keys().collect::<Vec<_>>()
            ));
        };
        let Some(schema) = schema else {
            return Ok(());
        };
        let json: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "{} answered {status} with a body that is not JSON: {e}",
                self.name
            )
        })?;
        match first_error(schema, &json) {
            None => Ok(()),
            Some(e) => Err(format!("{}'s {status} answer {e}", self.name)),
        }
    }

    pub fn statuses(&self) -> impl Iterator<Item = u16> + '_ {
        self.responses.keys().copied()
    }
}
