//! The committed C header must be exactly what cbindgen generates from the crate.

use std::path::Path;

#[test]
fn the_committed_header_is_what_cbindgen_generates() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("include").join("secllama.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);

    if std::env::var_os("SECLLAMA_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&header, &generated).expect("write ffi/include/secllama.h");
        return;
    }
    let committed = std::fs::read(&header).unwrap_or_default();
    if committed != generated {
        let first_diff = committed
            .split(|&b| b == b'\n')
            .zip(generated.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .map_or_else(
                || "(one is a prefix of the other)".to_owned(),
                |l| format!("line {}", l + 1),
            );
        panic!(
            "ffi/include/secllama.h is stale (first difference at {first_diff}).\n\
             Regenerate it with:\n\n    SECLLAMA_BLESS=1 cargo test -p secllama-ffi --test header\n\n\
             and commit the result."
        );
    }
}

#[test]
fn the_header_names_statuses_with_the_prefix_and_documents_every_function() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/secllama.h"))
            .expect("header exists");
    assert!(header.contains("SECLLAMA_STATUS_OK = 0"));
    assert!(header.contains("SECLLAMA_STATUS_NULL_PARAMETER = 100"));
    assert!(header.contains("SECLLAMA_STATUS_AUTHENTICATION_FAILED = 202"));
    let lines: Vec<&str> = header.lines().collect();
    let mut functions = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_fn = (line.starts_with("secllama_status secllama_")
            || line.starts_with("void secllama_"))
            && line.contains('(');
        if is_fn {
            functions += 1;
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with("//"),
                "function without a comment: {line}"
            );
        }
    }
    assert!(functions >= 50, "only {functions} functions found");
}
