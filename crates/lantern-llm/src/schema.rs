//! A small JSON-Schema subset, enough to check a model's tool arguments before anything acts on
//! them and to tell the model precisely what to fix.
//!
//! Understood keywords: `type` (`object`, `array`, `string`, `integer`, `number`, `boolean`,
//! `null`, or a list of them), `properties`, `required`, `additionalProperties` (`false` or a
//! schema), `items`, `minItems`, `maxItems`, `enum`, `minimum`, `maximum`, `minLength`,
//! `maxLength` (in characters). Other keywords (`description`, `default`, `title`, ...) are
//! ignored, so write tool schemas in this subset: a constraint this validator does not know is
//! not enforced.

use serde_json::{Map, Value};

use crate::wire::TOOL_ARGUMENTS_BYTES_MAX;

/// Deepest nesting of arguments (and schema) checked; deeper is refused rather than recursed into.
pub const ARGUMENTS_DEPTH_MAX: usize = 16;

/// Why a tool call's arguments were refused: where (a JSON path such as `$.items[0].quantity`)
/// and what is wrong. Its text is written to be sent back to the model as the tool's result, so
/// that it can call again with corrected arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid arguments at {path}: {problem}; call the tool again with corrected arguments")]
pub struct ArgumentError {
    /// Where the problem is, as a JSON path from `$` (the arguments object).
    pub path: String,
    /// What is wrong, and what was expected.
    pub problem: String,
}

fn refuse(path: &str, problem: impl Into<String>) -> ArgumentError {
    ArgumentError { path: path.to_string(), problem: problem.into() }
}

/// Parses a tool call's arguments text and checks it against the tool's schema: bad JSON,
/// oversized text and schema violations all come back as an [`ArgumentError`].
pub fn parse_arguments(schema: &Value, arguments_json: &str) -> Result<Value, ArgumentError> {
    if arguments_json.len() > TOOL_ARGUMENTS_BYTES_MAX {
        return Err(refuse("$", format!("the arguments are longer than {TOOL_ARGUMENTS_BYTES_MAX} bytes")));
    }
    let value: Value = serde_json::from_str(arguments_json).map_err(|error| {
        refuse("$", format!("the arguments are not valid JSON ({error}); write one JSON object"))
    })?;
    validate_arguments(schema, &value)?;
    Ok(value)
}

/// Checks a value against a schema in the subset described in this module; the first problem
/// found is returned.
pub fn validate_arguments(schema: &Value, value: &Value) -> Result<(), ArgumentError> {
    check(schema, value, "$", 0)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    match wanted {
        // An integer is also a number; a float is not an integer, even 2.0: the caller reads
        // integers with `as_i64`, which would not see it.
        "number" => value.is_number(),
        other => type_name(value) == other,
    }
}

fn check(schema: &Value, value: &Value, path: &str, depth: usize) -> Result<(), ArgumentError> {
    if depth > ARGUMENTS_DEPTH_MAX {
        return Err(refuse(path, format!("nested deeper than {ARGUMENTS_DEPTH_MAX} levels")));
    }
    let Some(schema) = schema.as_object() else {
        // `true` (or any non-object) accepts everything; `false` nothing.
        return if schema == &Value::Bool(false) {
            Err(refuse(path, "no value is allowed here"))
        } else {
            Ok(())
        };
    };
    check_type(schema, value, path)?;
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(refuse(path, format!("{value} is not one of {}", list.join(", "))));
    }
    match value {
        Value::Number(_) => check_number(schema, value, path),
        Value::String(text) => check_string(schema, text, path),
        Value::Array(items) => check_array(schema, items, path, depth),
        Value::Object(fields) => check_object(schema, fields, path, depth),
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

fn check_type(schema: &Map<String, Value>, value: &Value, path: &str) -> Result<(), ArgumentError> {
    let wanted: Vec<&str> = match schema.get("type") {
        None => return Ok(()),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Ok(()),
    };
    if wanted.iter().any(|wanted| has_type(value, wanted)) {
        return Ok(());
    }
    Err(refuse(path, format!("expected {}, got {} ({value})", wanted.join(" or "), type_name(value))))
}

fn check_number(schema: &Map<String, Value>, value: &Value, path: &str) -> Result<(), ArgumentError> {
    // Comparisons only: i64 when both sides are integers, f64 otherwise (bounds like 0.5 exist).
    let below = |bound: &Value| match (value.as_i64(), bound.as_i64()) {
        (Some(value), Some(bound)) => value < bound,
        _ => matches!((value.as_f64(), bound.as_f64()), (Some(value), Some(bound)) if value < bound),
    };
    let above = |bound: &Value| match (value.as_i64(), bound.as_i64()) {
        (Some(value), Some(bound)) => value > bound,
        _ => matches!((value.as_f64(), bound.as_f64()), (Some(value), Some(bound)) if value > bound),
    };
    if let Some(minimum) = schema.get("minimum")
        && below(minimum)
    {
        return Err(refuse(path, format!("{value} is less than the minimum {minimum}")));
    }
    if let Some(maximum) = schema.get("maximum")
        && above(maximum)
    {
        return Err(refuse(path, format!("{value} is more than the maximum {maximum}")));
    }
    Ok(())
}

fn bound(schema: &Map<String, Value>, keyword: &str) -> Option<usize> {
    schema.get(keyword).and_then(Value::as_u64).map(|bound| usize::try_from(bound).unwrap_or(usize::MAX))
}

fn check_string(schema: &Map<String, Value>, text: &str, path: &str) -> Result<(), ArgumentError> {
    let chars = text.chars().count();
    if let Some(min) = bound(schema, "minLength")
        && chars < min
    {
        return Err(refuse(path, format!("the text is {chars} characters; at least {min} are needed")));
    }
    if let Some(max) = bound(schema, "maxLength")
        && chars > max
    {
        return Err(refuse(path, format!("the text is {chars} characters; at most {max} are allowed")));
    }
    Ok(())
}

fn check_array(
    schema: &Map<String, Value>,
    items: &[Value],
    path: &str,
    depth: usize,
) -> Result<(), ArgumentError> {
    if let Some(min) = bound(schema, "minItems")
        && items.len() < min
    {
        return Err(refuse(path, format!("{} items given; at least {min} are needed", items.len())));
    }
    if let Some(max) = bound(schema, "maxItems")
        && items.len() > max
    {
        return Err(refuse(path, format!("{} items given; at most {max} are allowed", items.len())));
    }
    if let Some(item_schema) = schema.get("items") {
        for (index, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{index}]"), depth + 1)?;
        }
    }
    Ok(())
}

fn field_path(path: &str, name: &str) -> String {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { format!("{path}.{name}") } else { format!("{path}[{}]", Value::String(name.to_string())) }
}

fn check_object(
    schema: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), ArgumentError> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    {
        if !fields.contains_key(name) {
            return Err(refuse(&field_path(path, name), "is required but missing"));
        }
    }
    for (name, field) in fields {
        let field_at = field_path(path, name);
        match properties.and_then(|properties| properties.get(name)) {
            Some(field_schema) => check(field_schema, field, &field_at, depth + 1)?,
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> =
                        properties.into_iter().flat_map(|p| p.keys()).map(String::as_str).collect();
                    return Err(refuse(
                        &field_at,
                        format!("is not a known field; the fields are: {}", known.join(", ")),
                    ));
                }
                Some(extra @ Value::Object(_)) => check(extra, field, &field_at, depth + 1)?,
                _ => {}
            },
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn add_to_cart() -> Value {
        json!({
            "type": "object",
            "properties": {
                "item_id": {"type": "integer", "minimum": 1},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 20},
                "size": {"type": "string", "enum": ["medium", "large"]},
                "note": {"type": "string", "maxLength": 5},
                "toppings": {"type": "array", "maxItems": 2, "items": {"type": "string", "minLength": 1}},
                "gift": {"type": ["boolean", "null"]},
                "weird key": {"type": "number", "minimum": 0.5}
            },
            "required": ["item_id", "quantity"],
            "additionalProperties": false
        })
    }

    fn problem(arguments: &str) -> ArgumentError {
        parse_arguments(&add_to_cart(), arguments).unwrap_err()
    }

    #[test]
    fn good_arguments_pass() {
        let value = parse_arguments(
            &add_to_cart(),
            r#"{"item_id":3,"quantity":2,"size":"large","toppings":["boba"],"gift":null,"weird key":1}"#,
        )
        .unwrap();
        assert_eq!(value["quantity"], 2);
    }

    #[test]
    fn each_violation_names_its_path() {
        let cases = [
            (r#"{"item_id":3,"quantity":2"#, "$", "not valid JSON"),
            (r#"[1]"#, "$", "expected object, got array"),
            (r#"{"quantity":2}"#, "$.item_id", "required"),
            (r#"{"item_id":"3","quantity":2}"#, "$.item_id", "expected integer, got string"),
            (r#"{"item_id":3,"quantity":2.0}"#, "$.quantity", "expected integer, got number"),
            (r#"{"item_id":3,"quantity":0}"#, "$.quantity", "less than the minimum 1"),
            (r#"{"item_id":3,"quantity":21}"#, "$.quantity", "more than the maximum 20"),
            (r#"{"item_id":3,"quantity":1,"size":"huge"}"#, "$.size", "not one of \"medium\", \"large\""),
            (r#"{"item_id":3,"quantity":1,"note":"珍珠奶茶好喝"}"#, "$.note", "6 characters; at most 5"),
            (r#"{"item_id":3,"quantity":1,"toppings":["a","b","c"]}"#, "$.toppings", "at most 2"),
            (r#"{"item_id":3,"quantity":1,"toppings":["a",""]}"#, "$.toppings[1]", "at least 1"),
            (r#"{"item_id":3,"quantity":1,"confirm":true}"#, "$.confirm", "not a known field"),
            (r#"{"item_id":3,"quantity":1,"gift":"yes"}"#, "$.gift", "expected boolean or null"),
            (
                r#"{"item_id":3,"quantity":1,"weird key":0.25}"#,
                "$[\"weird key\"]",
                "less than the minimum 0.5",
            ),
        ];
        for (arguments, path, fragment) in cases {
            let error = problem(arguments);
            assert_eq!(error.path, path, "{arguments}: {error}");
            assert!(error.problem.contains(fragment), "{arguments}: {error}");
            assert!(error.to_string().ends_with("call the tool again with corrected arguments"));
        }
    }

    #[test]
    fn deep_nesting_and_huge_text_are_refused() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let error = validate_arguments(&json!({"items": {}}), &serde_json::from_str(&deep).unwrap());
        assert!(error.is_ok(), "an empty items schema does not recurse");
        let nested_schema = (0..40).fold(json!({}), |inner, _| json!({"type": "array", "items": inner}));
        let error = validate_arguments(&nested_schema, &serde_json::from_str(&deep).unwrap()).unwrap_err();
        assert!(error.problem.contains("nested deeper"));
        let huge = format!("{{\"note\":\"{}\"}}", "x".repeat(TOOL_ARGUMENTS_BYTES_MAX));
        assert!(problem(&huge).problem.contains("longer than"));
    }
}
