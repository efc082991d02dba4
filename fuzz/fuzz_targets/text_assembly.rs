//! Token text assembly: arbitrary token byte pieces and stop strings. The output is always the
//! lossy UTF-8 decoding of all bytes, cut before the first stop string, and never contains a
//! stop string (a stop string never leaks, even split across tokens or characters).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_runner::internal::assemble_text;
use secllama_runner::{MAX_STOP_STRING_BYTES, MAX_STOP_STRINGS};

#[derive(Arbitrary, Debug)]
struct Input {
    stop: Vec<String>,
    pieces: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    // Requests are validated before generation: at most 16 stop strings of 1..=256 bytes.
    let stop: Vec<String> = input
        .stop
        .into_iter()
        .filter(|s| !s.is_empty() && s.len() <= MAX_STOP_STRING_BYTES)
        // KNOWN OPEN FINDING (runner 4 in the fuzz notes): `TextStream::finish` turns
        // incomplete trailing bytes into U+FFFD without checking stop strings, so a stop string
        // containing U+FFFD can leak at the end. Excluded until fixed so the campaign goes on;
        // remove this filter with the fix (regression test in secllama-runner/tests/bad_input.rs).
        .filter(|s| !s.contains('\u{fffd}'))
        .take(MAX_STOP_STRINGS)
        .collect();
    let pieces: Vec<&[u8]> = input.pieces.iter().map(Vec::as_slice).collect();
    let all: Vec<u8> = pieces.concat();
    let full = String::from_utf8_lossy(&all);

    let out = assemble_text(stop.clone(), &pieces);
    assert!(full.starts_with(out.as_str()), "output is not a prefix of the decoded bytes");
    for s in &stop {
        assert!(!out.contains(s.as_str()), "stop string {s:?} leaked into {out:?}");
    }
    if !stop.iter().any(|s| full.contains(s.as_str())) {
        assert_eq!(out, full, "text lost without a stop string");
    }
});
