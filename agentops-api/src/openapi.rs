//! The OpenAPI document, completed from the code's own rules so that it describes what
//! the server does, for client generators and fuzzers alike.
//!
//! The routes' `#[utoipa::path]` annotations declare what is particular to each
//! operation: its success answers, the domain's own refusals (404 of a missing record, 409
//! of a transition that is not allowed), and the role its key needs, as the scope of its
//! `bearer` requirement (OpenAPI 3.1 lets a non-OAuth scheme list role names there).
//! What follows from the extractors every operation shares is added here, from the shape
//! of the operation, so it cannot be forgotten on one route or drift from the code:
//!
//! | the operation has | so it may answer |
//! |---|---|
//! | a `bearer` requirement (every `/api/v1` route) | 401, 429 (`Retry-After`), 503 (`Retry-After`) |
//! | a role above `viewer` | 403 |
//! | a path parameter | 400 (`invalid_id`) and 404 (`…_not_found`), or 422 for a name |
//! | query parameters | 400 (`invalid_query`, `invalid_cursor`) |
//! | an `Idempotency-Key` header | 400 (`invalid_idempotency_key`), 422 (`idempotency_key_reused`) |
//! | a JSON body | 400 (`malformed_json`, `unreadable_body`), 413, 415, 422 |
//!
//! A body the annotation types `Option<T>` may be left out ([`crate::extract::OptionalJson`]);
//! it is never `null`, so the document says "not required" rather than "nullable".
//! Constraints on request fields come from [`crate::domain::limits`], the same values the
//! validation uses.
//!
//! Links (for clients and stateful fuzzers that follow them) come from the paths: what a
//! `POST` on a collection `…/things` creates is addressed by every operation on
//! `/api/v1/things/{id}…`, with the new record's `id`.

use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

/// The error answers the shared extractors can give, with what each means.
const SHARED: &[(u16, &str)] = &[
    (
        400,
        "The request could not be read: malformed JSON, a body that broke off, a path id that is not a UUID, or a query string or header that does not parse.",
    ),
    (
        401,
        "No API key, or one that is unknown or revoked (with `WWW-Authenticate: Bearer`).",
    ),
    (403, "The key's role is not enough."),
    (404, "No such record, or no such route."),
    (413, "The body is larger than the server accepts."),
    (415, "The body is not `application/json`."),
    (
        422,
        "The body is well-formed but its values are not acceptable: not an object, missing, unknown or mistyped fields, values out of their constraints (with `details`), or an `Idempotency-Key` reused with another body.",
    ),
    (429, "Too many requests with this key (with `Retry-After`)."),
    (
        503,
        "The database is unreachable (with `Retry-After`); retry shortly.",
    ),
];

/// `doc` completed as the module doc says, as the JSON the server serves (utoipa's
/// types cannot read back every schema they write, so the result stays JSON).
///
/// # Panics
/// If the document does not serialise (a bug in utoipa).
pub fn complete(doc: OpenApi) -> Value {
    let mut value = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
    complete_json(&mut value);
    value
}

/// The keys of a path item that hold operations.
const METHODS: [&str; 7] = ["get", "put", "post", "patch", "delete", "head", "options"];

/// Every operation of `doc`, with its path.
fn operations(doc: &Value) -> impl Iterator<Item = (&str, &Value)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(method, _)| METHODS.contains(&method.as_str()))
                .map(move |(_, op)| (path.as_str(), op))
        })
}

/// Every operation of `doc`, to change.
fn operations_mut(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| METHODS.contains(&method.as_str()))
        .map(|(_, op)| op)
}

fn complete_json(doc: &mut Value) {
    operations_mut(doc).for_each(complete_operation);
    crate::domain::limits::apply(doc);
    no_nul_in_query(doc);
    forms_without_null(doc);
    add_links(doc);
}

/// The query extractor refuses a NUL (`%00`) in any parameter (400): free-text query
/// parameters say so with a pattern.
fn no_nul_in_query(doc: &mut Value) {
    let parameters = operations_mut(doc)
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flatten()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"));
    for parameter in parameters {
        let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut) else {
            continue;
        };
        let string = match schema.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
            _ => false,
        };
        let constrained = ["pattern", "format", "enum", "$ref"]
            .iter()
            .any(|k| schema.contains_key(*k));
        if string && !constrained {
            schema.insert("pattern".to_owned(), json!("^[^\\u0000]*$"));
        }
    }
}

/// A form field is sent or not; it has no `null` (utoipa writes `Option` fields of the
/// form's struct as nullable, and a fuzzer then sends the text `null`).
fn forms_without_null(doc: &mut Value) {
    let forms: Vec<String> = operations(doc)
        .filter_map(|(_, op)| {
            op.pointer("/requestBody/content/multipart~1form-data/schema/$ref")?
                .as_str()?
                .strip_prefix("#/components/schemas/")
                .map(str::to_owned)
        })
        .collect();
    for form in forms {
        let properties = doc
            .pointer_mut(&format!("/components/schemas/{form}/properties"))
            .and_then(Value::as_object_mut);
        for property in properties.into_iter().flat_map(|p| p.values_mut()) {
            if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    property["type"] = only;
                }
            }
        }
    }
}

/// Links each create's answers to the operations on the record it creates.
fn add_links(doc: &mut Value) {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return;
    };
    // (collection, operationId) of each operation on a record by id.
    let by_id: Vec<(String, String)> = operations(doc)
        .filter_map(|(path, op)| {
            let (collection, _) = path.split_once("/{id}")?;
            let id = op.get("operationId")?.as_str()?;
            Some((collection.to_owned(), id.to_owned()))
        })
        .collect();
    let creates: Vec<(String, String)> = paths
        .iter()
        .filter(|(_, item)| item.get("post").is_some())
        .filter_map(|(path, _)| {
            let (_, name) = path.rsplit_once('/')?;
            Some((path.clone(), format!("/api/v1/{name}")))
        })
        .collect();
    for (path, collection) in creates {
        let links: serde_json::Map<String, Value> = by_id
            .iter()
            .filter(|(c, _)| *c == collection)
            .map(|(_, operation)| {
                (
                    operation.clone(),
                    json!({"operationId": operation, "parameters": {"id": "$response.body#/id"}}),
                )
            })
            .collect();
        if links.is_empty() {
            continue;
        }
        let Some(responses) = doc
            .pointer_mut(&format!(
                "/paths/{}/post/responses",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if matches!(status.as_str(), "200" | "201") {
                response["links"] = Value::Object(links.clone());
            }
        }
    }
}

fn complete_operation(op: &mut Value) {
    let mut statuses = Vec::new();
    let scopes: Vec<String> = op
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|req| req.get("bearer").and_then(Value::as_array))
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
    if secured {
        statuses.extend([401, 429, 503]);
    }
    if scopes.iter().any(|s| s == "admin" || s == "agent") {
        statuses.push(403);
    }
    let parameters: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("in")?.as_str()?.to_owned(),
                p.get("name")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    for (place, name) in &parameters {
        match (place.as_str(), name.as_str()) {
            ("path", "id") => statuses.extend([400, 404]),
            ("path", _) => statuses.push(422),
            ("query", _) => statuses.push(400),
            ("header", "Idempotency-Key") => statuses.extend([400, 422]),
            _ => {}
        }
    }
    if let Some(body) = op.get_mut("requestBody") {
        let json_body = body
            .get("content")
            .and_then(Value::as_object)
            .is_some_and(|c| c.contains_key("application/json"));
        if json_body {
            statuses.extend([400, 413, 415, 422]);
            optional_not_nullable(body);
        }
        // Raw bytes: say so, rather than leaving the schema out.
        if let Some(raw) = body.pointer_mut("/content/application~1octet-stream")
            && raw.get("schema").is_none_or(Value::is_null)
        {
            raw["schema"] = json!({"type": "string", "format": "binary"});
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    // OpenAPI requires a description of every answer: one a route declared without
    // words gets its status's reason phrase, an error also the table's codes.
    for (key, response) in responses.iter_mut() {
        let Ok(status) = key.parse::<u16>() else {
            continue;
        };
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        if response
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty())
        {
            continue;
        }
        let description = if status >= 400 {
            error_description(status)
        } else {
            axum::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Success")
                .to_owned()
        };
        response.insert("description".to_owned(), Value::String(description));
    }
    for status in statuses {
        let key = status.to_string();
        if responses.contains_key(&key) {
            continue;
        }
        responses.insert(key, error_response(status, &error_description(status)));
    }
}

/// What an error answer with `status` means ([`SHARED`]), followed by every code of the
/// error-code table answered with it.
fn error_description(status: u16) -> String {
    let description = SHARED
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("An error.", |(_, d)| d);
    let codes: Vec<String> = agentops_sdk::types::ErrorCode::ALL
        .iter()
        .filter(|code| code.status() == status)
        .map(|code| format!("`{code}`"))
        .collect();
    if codes.is_empty() {
        description.to_owned()
    } else {
        format!(
            "{description} Codes with this status: {}.",
            codes.join(", ")
        )
    }
}

/// The answer `status` with the error body (and `Retry-After` where it comes with one).
fn error_response(status: u16, description: &str) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    if matches!(status, 429 | 503) {
        response["headers"] = json!({
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer", "minimum": 0},
            }
        });
    }
    if status == 401 {
        response["headers"] = json!({
            "WWW-Authenticate": {"description": "`Bearer realm=\"agentops\"`", "schema": {"type": "string"}}
        });
    }
    response
}

/// A body typed `Option<T>` may be omitted, never `null`: its schema is `T`, and it is
/// not required.
fn optional_not_nullable(body: &mut Value) {
    let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let mut was_nullable = false;
    for media in content.values_mut() {
        let Some(schema) = media.get_mut("schema") else {
            continue;
        };
        if let Some(inner) = non_null_branch(schema) {
            *schema = inner;
            was_nullable = true;
        }
    }
    if was_nullable && let Some(body) = body.as_object_mut() {
        body.insert("required".to_owned(), Value::Bool(false));
    }
}

/// `T` of `oneOf: [{type: null}, T]` (how utoipa writes `Option<T>`).
fn non_null_branch(schema: &Value) -> Option<Value> {
    let branches = schema.get("oneOf")?.as_array()?;
    if branches.len() != 2 {
        return None;
    }
    let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
    match (is_null(&branches[0]), is_null(&branches[1])) {
        (true, false) => Some(branches[1].clone()),
        (false, true) => Some(branches[0].clone()),
        _ => None,
    }
}
