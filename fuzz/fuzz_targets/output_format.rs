//! Output formats (structured output): arbitrary JSON as a JSON schema through the converter
//! to llama.cpp's grammar language, as host and runner both run it on a request's `format`.
//! It never panics or recurses without bound, and what it accepts is a grammar with its root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secllama_runner::OutputFormat;
use secllama_runner::internal::format_grammar;

fuzz_target!(|data: &[u8]| {
    // serde_json's own recursion limit (128) bounds the nesting the converter can see.
    let Ok(schema) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(grammar) = format_grammar(&OutputFormat::JsonSchema(schema)) {
        assert!(grammar.contains("\nroot ::= ws "), "{grammar}");
    }
});
