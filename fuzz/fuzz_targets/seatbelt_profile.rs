//! Seatbelt profile generation from arbitrary policies: the profile text never depends on the
//! contents of a path, only on how deep it is (paths travel only as `-D` parameters), every
//! accepted path is exactly one parameter followed by its ancestors, refused paths are refused
//! for a documented reason, every profile passes the Seatbelt linter, and the argv keeps its
//! shape.
#![no_main]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_sandbox::internal::{SeatbeltProfile, lint_profile};
use secllama_sandbox::{SandboxError, SandboxPolicy, SeatbeltIpc};

#[derive(Arbitrary, Debug)]
struct Input {
    program: Vec<u8>,
    read_only: Vec<Vec<u8>>,
    read_write: Vec<Vec<u8>>,
    devices: Vec<Vec<u8>>,
    socket: Option<Vec<u8>>,
    gpu: bool,
    baseline: bool,
}

fn path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}

fn policy(ro: &[PathBuf], rw: &[PathBuf], dev: &[PathBuf], baseline: bool) -> SandboxPolicy {
    let mut p = SandboxPolicy::new();
    if !baseline {
        p = p.without_baseline();
    }
    for x in ro {
        p = p.read_only(x.clone());
    }
    for x in rw {
        p = p.read_write(x.clone());
    }
    for x in dev {
        p = p.device(x.clone());
    }
    p
}

fn acceptable(p: &Path) -> bool {
    p.to_str().is_some_and(|s| !s.contains('\0')) && p.is_absolute()
}

fuzz_target!(|input: Input| {
    let ro: Vec<PathBuf> = input.read_only.iter().map(|b| path(b)).collect();
    let rw: Vec<PathBuf> = input.read_write.iter().map(|b| path(b)).collect();
    let dev: Vec<PathBuf> = input.devices.iter().map(|b| path(b)).collect();
    let program = path(&input.program);
    let ipc = match &input.socket {
        Some(s) => SeatbeltIpc::UnixSocket(path(s)),
        None => SeatbeltIpc::InheritedFd,
    };
    let all: Vec<&PathBuf> = std::iter::once(&program)
        .chain(&ro)
        .chain(&rw)
        .chain(&dev)
        .chain(match &ipc {
            SeatbeltIpc::UnixSocket(p) => Some(p),
            SeatbeltIpc::InheritedFd => None,
        })
        .collect();

    let pol = policy(&ro, &rw, &dev, input.baseline);
    let built = SeatbeltProfile::build(&pol, &program, &ipc, input.gpu);
    let profile = match built {
        Err(SandboxError::UnrepresentablePath { path, .. }) => {
            assert!(!acceptable(&path), "refused an acceptable path {path:?}");
            assert!(all.iter().any(|p| **p == path), "refused a path not in the policy");
            return;
        }
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(p) => p,
    };
    assert!(all.iter().all(|p| acceptable(p)), "accepted an unrepresentable path");

    // Every path is exactly one parameter, in order, with its exact text; then one `ANC_n`
    // parameter for each directory above each path (the root excluded).
    let params = profile.params();
    for ((name, value), p) in params.iter().zip(&all) {
        assert_eq!(Some(value.as_str()), p.to_str());
        assert!(name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
    }
    let ancestors: Vec<&Path> = all
        .iter()
        .flat_map(|p| p.ancestors().skip(1).filter(|a| a.parent().is_some()))
        .collect();
    assert_eq!(params.len(), all.len() + ancestors.len());
    for (i, ((name, value), a)) in params[all.len()..].iter().zip(&ancestors).enumerate() {
        assert_eq!(name, &format!("ANC_{i}"));
        assert_eq!(Some(value.as_str()), a.to_str());
    }
    assert_eq!(lint_profile(profile.text(), params), Ok(()), "{}", profile.text());

    // The text is the same with every path replaced by a placeholder as deep as it: no path
    // content leaks into the SBPL, so no path can change the profile's structure.
    let depth = |p: &Path| -> PathBuf {
        let n = p.ancestors().count().saturating_sub(1);
        PathBuf::from(format!("/{}", vec!["p"; n].join("/")))
    };
    let ph = |v: &[PathBuf]| -> Vec<PathBuf> { v.iter().map(|p| depth(p)).collect() };
    let ph_ipc = match &ipc {
        SeatbeltIpc::UnixSocket(p) => SeatbeltIpc::UnixSocket(depth(p)),
        SeatbeltIpc::InheritedFd => SeatbeltIpc::InheritedFd,
    };
    let reference = SeatbeltProfile::build(
        &policy(&ph(&ro), &ph(&rw), &ph(&dev), input.baseline),
        &depth(&program),
        &ph_ipc,
        input.gpu,
    )
    .expect("placeholder policy builds");
    assert_eq!(profile.text(), reference.text(), "path contents changed the profile text");

    // Balanced parentheses outside string literals and comments.
    let mut depth = 0i64;
    let mut in_str = false;
    for line in profile.text().lines() {
        for c in line.chars() {
            match (in_str, c) {
                (false, ';') => break,
                (false, '"') | (true, '"') => in_str = !in_str,
                (false, '(') => depth += 1,
                (false, ')') => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0);
        }
    }
    assert_eq!(depth, 0);
    assert!(!in_str);

    // argv: sandbox-exec -p TEXT (-D NAME=VALUE)* -- PROGRAM ARGS
    let argv = profile.argv(&program, [OsString::from("--x")]);
    assert_eq!(argv[0], OsString::from("/usr/bin/sandbox-exec"));
    assert_eq!(argv[1], OsString::from("-p"));
    assert_eq!(argv[2], OsString::from(profile.text()));
    let n = params.len();
    for (i, (name, value)) in params.iter().enumerate() {
        assert_eq!(argv[3 + 2 * i], OsString::from("-D"));
        assert_eq!(argv[4 + 2 * i], OsString::from(format!("{name}={value}")));
    }
    assert_eq!(argv[3 + 2 * n], OsString::from("--"));
    assert_eq!(argv[4 + 2 * n], program.as_os_str());
    assert_eq!(argv.len(), 6 + 2 * n);
});
