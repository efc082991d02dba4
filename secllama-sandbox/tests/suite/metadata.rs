//! Issue 12's file rows: metadata changes (mode, owner, times, extended attributes) outside
//! what the policy lets the program write, the setuid-root copy, and what `stat`, `getxattr`,
//! `name_to_handle_at`, `inotify` and `/proc/self/mountinfo` give away about the host.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use secllama_sandbox::SandboxPolicy;

use super::helpers::{
    Answers, ENOENT, EPERM, EROFS, is_root, op, probe_path, run, suid_capable_tempdir, tempdir,
    writable_tempdir,
};

const ENODATA: &str = "61";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The probe outside any sandbox: the control that shows an attempt works without one.
fn unsandboxed(ops: &[&str]) -> Answers {
    Answers::from_output(Command::new(probe_path()).args(ops).output().unwrap(), None)
}

/// Changes to a file's metadata, one operation per call of the family.
fn changes(path: &Path) -> [String; 4] {
    [
        op("chmod", format!("{}:600", path.display())),
        op("chown", format!("{}:-1", path.display())),
        op("utime", path.display()),
        op("setxattr", path.display()),
    ]
}

#[test]
fn without_a_write_grant_every_metadata_change_is_refused_by_seccomp() {
    let outside = tempdir();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "hush").unwrap();
    let granted = tempdir();
    let file = granted.path().join("model");
    std::fs::write(&file, "weights").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let before = mode(&secret);
    let (on_granted, on_outside) = (changes(&file), changes(&secret));
    let stat = op("stat", file.display());
    let read = op("read", file.display());
    let mut ops: Vec<&str> = on_granted.iter().map(String::as_str).collect();
    ops.extend(on_outside.iter().map(String::as_str));
    ops.extend([stat.as_str(), read.as_str()]);
    let a = run(&SandboxPolicy::new().read_only(granted.path()), &ops);
    // The filter answers before the path is even looked up.
    for o in on_granted.iter().chain(&on_outside) {
        a.assert_err(o, EPERM);
    }
    // The allowed thing in the same run: reading the granted file and its metadata.
    assert_eq!(a.assert_ok(&stat), "7");
    assert_eq!(a.assert_ok(&read), "weights");
    assert_eq!(mode(&file), 0o644);
    assert_eq!(mode(&secret), before);
}

#[test]
fn with_a_write_grant_metadata_changes_work_there_only() {
    let outside = tempdir();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "hush").unwrap();
    let ro = tempdir();
    let fixed = ro.path().join("model");
    std::fs::write(&fixed, "weights").unwrap();
    std::fs::set_permissions(&fixed, std::fs::Permissions::from_mode(0o666)).unwrap();
    let rw = writable_tempdir();
    let mine = rw.path().join("mine");
    std::fs::write(&mine, "scratch").unwrap();
    if is_root() {
        std::os::unix::fs::chown(&mine, Some(65534), Some(65534)).unwrap();
    }

    let (on_mine, on_fixed, on_outside) = (changes(&mine), changes(&fixed), changes(&secret));
    let get = op("getxattr", mine.display());
    let to_root_group = op("chown", format!("{}:0", mine.display()));
    let mut ops: Vec<&str> = Vec::new();
    for o in on_mine.iter().chain(&on_fixed).chain(&on_outside) {
        ops.push(o);
    }
    ops.extend([get.as_str(), to_root_group.as_str()]);
    let a = run(
        &SandboxPolicy::new()
            .read_only(ro.path())
            .read_write(rw.path()),
        &ops,
    );
    // Allowed: the program's own file in the read-write dir.
    for o in &on_mine {
        assert_eq!(a.assert_ok(o), "done", "{o}");
    }
    assert_eq!(a.assert_ok(&get), "probe");
    assert_eq!(mode(&mine), 0o600);
    // A read-only bind mount refuses every change (Landlock has no right for them).
    for o in &on_fixed {
        a.assert_err(o, EROFS);
    }
    assert_eq!(mode(&fixed), 0o666);
    // Outside the policy the file does not exist.
    for o in &on_outside {
        a.assert_err(o, ENOENT);
    }
    // Giving its own file to group 0: its user namespace maps only its own uid and gid (65534
    // for a root caller), so group 0 does not even exist there.
    a.assert_err(&to_root_group, "22"); // EINVAL
    assert_ne!(std::fs::metadata(&mine).unwrap().gid(), 0);
}

#[test]
fn a_root_owned_copy_in_the_write_grant_cannot_be_made_setuid_root() {
    if !is_root() {
        eprintln!(
            "SKIPPED: a root-owned copy needs root (as uid 65534 the copy is the user's own)"
        );
        return;
    }
    // Not under /tmp, which may be mounted nosuid: the bit must be the only thing missing.
    let dir = suid_capable_tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let copy = dir.path().join("root-copy");
    std::fs::copy(probe_path(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let suid = op("chmod", format!("{}:4755", copy.display()));
    let own = op("chown", format!("{}:65534", copy.display()));
    let control = unsandboxed(&[&suid]);
    assert_eq!(control.assert_ok(&suid), "done");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();

    let a = run(&SandboxPolicy::new().read_write(dir.path()), &[&suid, &own]);
    // The program runs as uid 65534: root's file is not its own.
    a.assert_err(&suid, EPERM);
    a.assert_err(&own, EPERM);
    assert_eq!(mode(&copy), 0o755);
    assert_eq!(std::fs::metadata(&copy).unwrap().uid(), 0);
}

#[test]
fn ungranted_files_leak_neither_names_sizes_attributes_handles_nor_events() {
    let outside = tempdir();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "hush").unwrap();
    let granted = tempdir();
    let file = granted.path().join("model");
    std::fs::write(&file, "weights").unwrap();
    let probes = |p: &Path| {
        [
            op("stat", p.display()),
            op("getxattr", p.display()),
            op("name-to-handle", p.display()),
            op("inotify", p.display()),
        ]
    };
    let (leaks, allowed) = (probes(&secret), probes(&file));
    // The control: outside the sandbox every one of them answers about the secret.
    let control = unsandboxed(&leaks.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(control.assert_ok(&leaks[0]), "4");
    control.assert_err(&leaks[1], ENODATA); // the file exists, it just has no such attribute
    for o in [&leaks[2], &leaks[3]] {
        control.assert_ok(o);
    }

    let mut ops: Vec<&str> = leaks.iter().map(String::as_str).collect();
    ops.extend(allowed.iter().map(String::as_str));
    ops.push("mounts");
    let a = run(&SandboxPolicy::new().read_only(granted.path()), &ops);
    for o in &leaks {
        a.assert_err(o, ENOENT);
    }
    // The granted file answers each of them.
    assert_eq!(a.assert_ok(&allowed[0]), "7");
    a.assert_err(&allowed[1], ENODATA);
    assert!(a.assert_ok(&allowed[2]).starts_with("handle of "));
    assert_eq!(a.assert_ok(&allowed[3]), "watching");

    // mountinfo: the sandbox's root, its /dev and /proc, the baseline and the grants; none of
    // the host's own mounts (/sys, /dev/pts, /dev/shm, /proc's submounts, ...).
    let inside = a.assert_ok("mounts");
    let inside: Vec<&str> = inside.split(',').collect();
    assert_eq!(inside.first(), Some(&"/"), "{inside:?}");
    assert!(
        inside.contains(&granted.path().to_str().unwrap()),
        "{inside:?}"
    );
    let policy = SandboxPolicy::new().read_only(granted.path());
    let mut known = policy.effective_read_only_paths();
    known.extend(policy.effective_read_write_paths());
    known.push(probe_path());
    for m in &inside {
        let m = Path::new(m);
        let ok = m == Path::new("/")
            || m == Path::new("/proc")
            || (m.starts_with("/dev") && !m.starts_with("/dev/pts") && !m.starts_with("/dev/shm"))
            || known.iter().any(|k| m.starts_with(k));
        assert!(
            ok,
            "{} is not a mount the policy asked for: {inside:?}",
            m.display()
        );
    }
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for m in host.lines().filter_map(|l| l.split(' ').nth(4)) {
        if m.starts_with("/sys") || m.starts_with("/dev/pts") || m.starts_with("/dev/shm") {
            assert!(
                !inside.contains(&m),
                "the host's {m} is visible: {inside:?}"
            );
        }
    }
}
