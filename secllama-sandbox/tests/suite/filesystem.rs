//! Files: only the policy's paths, and only the way the policy says.

use std::os::unix::fs::symlink;

use secllama_sandbox::SandboxPolicy;

use super::helpers::{EACCES, ENOENT, EROFS, op, run, tempdir, writable_tempdir};

#[test]
fn a_planted_secret_and_etc_shadow_are_unreadable_while_allowed_files_read() {
    let secret_dir = tempdir();
    let secret = secret_dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let allowed_dir = tempdir();
    let allowed = allowed_dir.path().join("model.gguf");
    std::fs::write(&allowed, "model bytes").unwrap();
    // The control: the secret is readable outside the sandbox.
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");

    let (read_secret, read_allowed) = (op("read", secret.display()), op("read", allowed.display()));
    let policy = SandboxPolicy::new().read_only(allowed_dir.path());
    let a = run(
        &policy,
        &[
            &read_secret,
            &read_allowed,
            "read=/etc/shadow",
            "read=/etc/passwd",
            "read=/usr/lib/os-release",
        ],
    );
    // Not in the sandbox's root at all (its own mount namespace).
    a.assert_err(&read_secret, ENOENT);
    a.assert_err("read=/etc/shadow", ENOENT);
    a.assert_err("read=/etc/passwd", ENOENT);
    assert_eq!(a.assert_ok(&read_allowed), "model bytes");
    assert!(a.assert_ok("read=/usr/lib/os-release").contains('='));
}

#[test]
fn writes_succeed_in_the_read_write_dir_and_fail_everywhere_else() {
    let rw = writable_tempdir();
    let ro = writable_tempdir();
    let outside = tempdir();
    let inside_rw = rw.path().join("out.txt");
    let inside_ro = ro.path().join("out.txt");
    let beside = outside.path().join("out.txt");
    let (w_rw, w_ro, w_out) = (
        op("write", inside_rw.display()),
        op("write", inside_ro.display()),
        op("write", beside.display()),
    );
    let policy = SandboxPolicy::new()
        .read_write(rw.path())
        .read_only(ro.path());
    let a = run(
        &policy,
        &[&w_rw, &w_ro, &w_out, "write=/usr/secllama-probe"],
    );
    assert_eq!(a.assert_ok(&w_rw), "written");
    assert_eq!(
        std::fs::read_to_string(&inside_rw).unwrap(),
        "written by the probe"
    );
    // Read-only bind mounts, and a directory that does not exist inside.
    a.assert_err(&w_ro, EROFS);
    a.assert_err(&w_out, ENOENT);
    a.assert_err("write=/usr/secllama-probe", EROFS);
    assert!(!inside_ro.exists() && !beside.exists());
}

#[test]
fn a_symlink_in_an_allowed_dir_pointing_outside_does_not_lead_to_the_target() {
    let secret_dir = tempdir();
    let secret = secret_dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let allowed = tempdir();
    let link = allowed.path().join("innocent.txt");
    symlink(&secret, &link).unwrap();
    let shadow_link = allowed.path().join("shadow");
    symlink("/etc/shadow", &shadow_link).unwrap();
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "top secret");

    let (r1, r2) = (
        op("read", link.display()),
        op("read", shadow_link.display()),
    );
    let a = run(
        &SandboxPolicy::new().read_write(allowed.path()),
        &[&r1, &r2],
    );
    // The targets do not exist in the sandbox's root.
    a.assert_err(&r1, ENOENT);
    a.assert_err(&r2, ENOENT);
}

#[test]
fn magic_links_hard_links_and_renames_do_not_smuggle_a_file_in() {
    let outside = tempdir();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let rw = writable_tempdir();
    let (link_dst, move_dst) = (rw.path().join("linked"), rw.path().join("moved"));
    let via_cwd = "read=/proc/self/cwd/secret.txt".to_owned();
    let link = op(
        "link",
        format!("{}:{}", secret.display(), link_dst.display()),
    );
    let rename = op(
        "rename",
        format!("{}:{}", secret.display(), move_dst.display()),
    );
    let a = super::helpers::run_with(
        &SandboxPolicy::new().read_write(rw.path()),
        &[
            via_cwd.clone(),
            "read=/proc/self/root/etc/shadow".to_owned(),
            link.clone(),
            rename.clone(),
        ],
        |cmd| {
            cmd.current_dir(outside.path());
        },
    );
    // The working directory is outside the sandbox's root, so the program starts in `/`;
    // the magic links lead only into the sandbox's own root, and the source of the link and
    // the rename does not exist there.
    a.assert_err(&via_cwd, ENOENT);
    a.assert_err("read=/proc/self/root/etc/shadow", ENOENT);
    a.assert_err(&link, ENOENT);
    a.assert_err(&rename, ENOENT);
    assert!(!link_dst.exists() && !move_dst.exists() && secret.exists());
}

#[test]
fn other_processes_proc_entries_are_unreadable_but_the_probes_own_are_readable() {
    let parent = format!("read=/proc/{}/status", std::process::id());
    let a = run(
        &SandboxPolicy::new(),
        &[
            "read=/proc/1/status",
            &parent,
            "read=/proc/self/status",
            "read=/proc/self/mountinfo",
        ],
    );
    // Its own PID namespace: the host's processes do not exist; PID 1 (the sandbox's init)
    // does, and Landlock keeps its entries closed.
    a.assert_err("read=/proc/1/status", EACCES);
    a.assert_err(&parent, ENOENT);
    assert!(a.assert_ok("read=/proc/self/status").starts_with("Name:"));
    // Its own mount namespace: the first mount is the read-only tmpfs root.
    assert!(
        a.assert_ok("read=/proc/self/mountinfo")
            .contains(" / / ro,nosuid,nodev")
    );
}

#[test]
fn a_granted_proc_path_is_readable_in_the_sandboxes_own_proc_and_its_neighbours_are_not() {
    // GPU drivers read files such as /proc/driver/nvidia/params; the sandbox's /proc is its
    // own mount, so the grant must reach that mount and nothing next to it.
    let policy = SandboxPolicy::new().read_only("/proc/cpuinfo");
    let a = run(&policy, &["read=/proc/cpuinfo", "read=/proc/meminfo"]);
    assert!(a.assert_ok("read=/proc/cpuinfo").contains("processor"));
    a.assert_err("read=/proc/meminfo", EACCES);
}

#[test]
fn the_environment_holds_only_the_allow_list() {
    let policy = SandboxPolicy::new().allow_env("SECLLAMA_TEST_KEEP");
    let a = super::helpers::run_with(
        &policy,
        &["env".to_owned(), "read=/proc/self/environ".to_owned()],
        |cmd| {
            cmd.env("SECLLAMA_TEST_SECRET", "do-not-leak")
                .env("SECLLAMA_TEST_KEEP", "kept")
                .env("PATH", "/usr/bin:/bin")
                .env_remove("LANG")
                .env_remove("LC_ALL");
        },
    );
    assert_eq!(a.assert_ok("env"), "PATH,SECLLAMA_TEST_KEEP");
}

#[test]
fn an_allowed_device_takes_ioctls_and_a_baseline_device_refuses_them() {
    let a = run(
        &SandboxPolicy::new().device("/dev/zero"),
        &[
            "ioctl-fionread=/dev/zero",
            "ioctl-fionread=/dev/null",
            "write=/dev/null",
        ],
    );
    // ENOTTY comes from /dev/zero's driver itself: the ioctl got through the sandbox.
    a.assert_err("ioctl-fionread=/dev/zero", "25");
    // /dev/null is in the baseline for reading and writing, but without device ioctls.
    a.assert_err("ioctl-fionread=/dev/null", EACCES);
    assert_eq!(a.assert_ok("write=/dev/null"), "written");
}
