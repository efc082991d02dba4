//! Structured output: `format: "json"` and JSON-schema formats turned into a GBNF grammar for
//! llama.cpp's grammar sampler. Pure text building, checked on both sides (the host before
//! sending, the runner again), so an unsupported schema is an `InvalidRequest` and never
//! reaches llama.cpp.
//!
//! The schema subset: `type` `object` (`properties`, generated in the order of their names,
//! every property present; `required` must name listed properties; `additionalProperties: false`
//! allowed), `array` (`items`, `minItems`, `maxItems` up to 64), `string` (`maxLength` up to
//! 1024, `enum`), `number`, `integer`, `boolean`, `null`; `enum` of strings, numbers, booleans
//! or null; `const`; `title` and `description` are ignored. Anything else (`$ref`, `anyOf`,
//! `pattern`, `format`, …) is refused by name.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest JSON schema a request may carry, in bytes of JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// How deeply a schema may nest objects and arrays.
const MAX_DEPTH: usize = 16;
const MAX_ITEMS: u64 = 64;
const MAX_STRING: u64 = 1024;

/// What the output must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Any JSON object (Ollama's `format: "json"`).
    Json,
    /// JSON matching this schema (Ollama's `format: {schema}`), in the subset documented in
    /// the crate README; anything outside it is refused as an invalid request.
    JsonSchema(Value),
}

const BASE: &str = r#"ws ::= [ \t\n]{0,8}
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char{0,512} "\"" ws
number ::= "-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? ws
integer ::= "-"? ([0-9] | [1-9] [0-9]{0,15}) ws
boolean ::= ("true" | "false") ws
null ::= "null" ws
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value){0,63} )? "}" ws
array ::= "[" ws ( value ("," ws value){0,63} )? "]" ws
"#;

/// The GBNF grammar (root rule `root`) for `format`.
///
/// # Errors
/// The schema is too large, too deep, or uses something outside the subset; the message names
/// it.
pub(crate) fn grammar(format: &OutputFormat) -> Result<String, String> {
    let mut out = String::from(BASE);
    match format {
        OutputFormat::Json => out.push_str("root ::= ws object\n"),
        OutputFormat::JsonSchema(schema) => {
            let size = serde_json::to_vec(schema).map_or(usize::MAX, |v| v.len());
            if size > MAX_SCHEMA_BYTES {
                return Err(format!("the JSON schema exceeds {MAX_SCHEMA_BYTES} bytes"));
            }
            let mut rules = Vec::new();
            let root = rule(schema, 0, &mut rules)?;
            let _ = writeln!(out, "root ::= ws {root}");
            for (i, body) in rules.iter().enumerate() {
                let _ = writeln!(out, "r{i} ::= {body}");
            }
        }
    }
    Ok(out)
}

/// A GBNF string literal for the JSON text `json` (itself followed by optional whitespace).
fn literal(json: &str) -> String {
    let mut s = String::from("\"");
    for c in json.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn constant(v: &Value) -> Result<String, String> {
    match v {
        Value::Object(_) | Value::Array(_) => {
            Err("enum and const values must be strings, numbers, booleans or null".into())
        }
        v => Ok(format!("{} ws", literal(&v.to_string()))),
    }
}

fn bound(obj: &serde_json::Map<String, Value>, key: &str, max: u64) -> Result<Option<u64>, String> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(format!("`{key}` must be an integer from 0 to {max}")),
        },
    }
}

/// The grammar expression for `schema`; nested objects and arrays become numbered rules.
fn rule(schema: &Value, depth: usize, rules: &mut Vec<String>) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "the JSON schema nests deeper than {MAX_DEPTH} levels"
        ));
    }
    let Value::Object(obj) = schema else {
        return Err("a JSON schema must be an object".into());
    };
    const KNOWN: [&str; 12] = [
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "title",
        "description",
        "additionalProperties",
        "minItems",
        "maxItems",
        "maxLength",
    ];
    if let Some(key) = obj
        .keys()
        .find(|k| !KNOWN.contains(&k.as_str()) && *k != "$schema")
    {
        return Err(format!("the JSON schema keyword `{key}` is not supported"));
    }
    if let Some(v) = obj.get("const") {
        return constant(v);
    }
    if let Some(values) = obj.get("enum") {
        let Value::Array(values) = values else {
            return Err("`enum` must be an array".into());
        };
        if values.is_empty() || values.len() > 256 {
            return Err("`enum` needs 1 to 256 values".into());
        }
        let alts: Result<Vec<_>, _> = values.iter().map(constant).collect();
        return Ok(format!("({})", alts?.join(" | ")));
    }
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => {
            return Err("`type` must be one type name (type lists are not supported)".into());
        }
        None => return Err("every JSON schema needs a `type`, `enum` or `const`".into()),
    };
    let expr = match ty {
        "string" => match bound(obj, "maxLength", MAX_STRING)? {
            Some(n) => format!("\"\\\"\" char{{0,{n}}} \"\\\"\" ws"),
            None => "string".into(),
        },
        "number" => "number".into(),
        "integer" => "integer".into(),
        "boolean" => "boolean".into(),
        "null" => "null".into(),
        "array" => {
            let item = match obj.get("items") {
                Some(items) => rule(items, depth + 1, rules)?,
                None => "value".into(),
            };
            let min = bound(obj, "minItems", MAX_ITEMS)?.unwrap_or(0);
            let max = bound(obj, "maxItems", MAX_ITEMS)?.unwrap_or(MAX_ITEMS);
            if min > max {
                return Err("`minItems` is larger than `maxItems`".into());
            }
            let body = match (min, max) {
                (_, 0) => "\"[\" ws \"]\" ws".to_string(),
                (0, max) => format!(
                    "\"[\" ws ( {item} (\",\" ws {item}){{0,{}}} )? \"]\" ws",
                    max - 1
                ),
                (min, max) => format!(
                    "\"[\" ws {item} (\",\" ws {item}){{{},{}}} \"]\" ws",
                    min - 1,
                    max - 1
                ),
            };
            rules.push(body);
            format!("r{}", rules.len() - 1)
        }
        "object" => object(obj, depth, rules)?,
        other => return Err(format!("the JSON schema type `{other}` is not supported")),
    };
    Ok(expr)
}

fn object(
    obj: &serde_json::Map<String, Value>,
    depth: usize,
    rules: &mut Vec<String>,
) -> Result<String, String> {
    match obj.get("additionalProperties") {
        None | Some(Value::Bool(false)) => {}
        Some(_) => return Err("only `additionalProperties: false` is supported".into()),
    }
    let props = match obj.get("properties") {
        None => return Ok("object".into()),
        Some(Value::Object(p)) => p,
        Some(_) => return Err("`properties` must be an object".into()),
    };
    if let Some(required) = obj.get("required") {
        let Value::Array(names) = required else {
            return Err("`required` must be an array of property names".into());
        };
        if let Some(bad) = names
            .iter()
            .find(|n| n.as_str().is_none_or(|n| !props.contains_key(n)))
        {
            return Err(format!(
                "`required` names {bad}, which is not in `properties`"
            ));
        }
    }
    let mut parts = Vec::new();
    for (name, schema) in props {
        let key = literal(&Value::String(name.clone()).to_string());
        let value = rule(schema, depth + 1, rules)?;
        parts.push(format!("{key} ws \":\" ws {value}"));
    }
    let body = if parts.is_empty() {
        "\"{\" ws \"}\" ws".to_string()
    } else {
        format!("\"{{\" ws {} \"}}\" ws", parts.join(" \",\" ws "))
    };
    rules.push(body);
    Ok(format!("r{}", rules.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema_grammar(v: Value) -> Result<String, String> {
        grammar(&OutputFormat::JsonSchema(v))
    }

    #[test]
    fn a_schema_becomes_rules_with_properties_in_name_order() {
        let g = schema_grammar(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 12},
                "age": {"type": "integer"},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}
            },
            "required": ["name", "age"]
        }))
        .unwrap();
        assert!(g.contains("root ::= ws r1\n"), "{g}");
        assert!(g.contains(r#"r0 ::= "[" ws ( ("\"a\"" ws | "\"b\"" ws) ("," ws ("\"a\"" ws | "\"b\"" ws)){0,2} )? "]" ws"#), "{g}");
        assert!(g.contains(r#"r1 ::= "{" ws "\"age\"" ws ":" ws integer "," ws "\"name\"" ws ":" ws "\"" char{0,12} "\"" ws "," ws "\"tags\"" ws ":" ws r0 "}" ws"#), "{g}");
        assert!(
            grammar(&OutputFormat::Json)
                .unwrap()
                .ends_with("root ::= ws object\n")
        );
    }

    #[test]
    fn schemas_outside_the_subset_are_refused_by_name() {
        let cases = [
            (
                json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}}),
                "`$ref`",
            ),
            (json!({"anyOf": []}), "`anyOf`"),
            (json!({"type": ["string", "null"]}), "type lists"),
            (json!({"type": "string", "pattern": "x"}), "`pattern`"),
            (json!({"type": "date"}), "`date`"),
            (
                json!({"type": "object", "additionalProperties": true}),
                "additionalProperties",
            ),
            (
                json!({"type": "object", "properties": {}, "required": ["x"]}),
                "\"x\"",
            ),
            (
                json!({"type": "array", "minItems": 5, "maxItems": 2}),
                "minItems",
            ),
            (json!({"type": "string", "maxLength": 5000}), "maxLength"),
            (json!({"enum": [{"a": 1}]}), "enum"),
            (json!("string"), "must be an object"),
            (json!({}), "needs a `type`"),
        ];
        for (schema, word) in cases {
            let err = schema_grammar(schema.clone()).expect_err(&schema.to_string());
            assert!(err.contains(word), "{schema}: {err}");
        }
        let mut deep = json!({"type": "integer"});
        for _ in 0..20 {
            deep = json!({"type": "array", "items": deep});
        }
        assert!(schema_grammar(deep).is_err_and(|e| e.contains("deeper")));
        let big = json!({"type": "string", "description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(schema_grammar(big).is_err_and(|e| e.contains("exceeds")));
    }
}
