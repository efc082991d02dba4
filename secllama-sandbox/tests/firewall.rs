//! Windows firewall rules and job limits, checked on any OS: the blocked ranges are exactly
//! "everything but 127.0.0.0/8 and ::1", the netsh argument vectors are golden, program paths
//! netsh cannot represent are refused, and stale rules are found for cleanup.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations loudly

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use secllama_sandbox::internal::{
    Direction, JobLimits, cleanup_plan, delete_args, list_args, netsh_path, non_loopback_ranges,
    parse_rule_names, runner_rules,
};
use secllama_sandbox::{ResourceLimits, SandboxError};

const RUNNER: &str = r"C:\Program Files\SecLlama\secllama-runner.exe";

fn blocked(ip: IpAddr) -> bool {
    non_loopback_ranges().iter().any(|r| r.contains(ip))
}

fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SECLLAMA_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with SECLLAMA_UPDATE_GOLDEN=1)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "differs from {}", path.display());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_ipv4_address_is_blocked_exactly_when_it_is_not_in_127_slash_8(a in any::<u32>()) {
        let ip = IpAddr::V4(Ipv4Addr::from(a));
        prop_assert_eq!(blocked(ip), !loopback(ip));
    }

    #[test]
    fn every_ipv6_address_is_blocked_exactly_when_it_is_not_localhost(a in any::<u128>()) {
        let ip = IpAddr::V6(Ipv6Addr::from(a));
        prop_assert_eq!(blocked(ip), !loopback(ip));
    }

    #[test]
    fn addresses_inside_127_slash_8_are_never_blocked(low in any::<u32>()) {
        let ip = IpAddr::V4(Ipv4Addr::from((127u32 << 24) | (low & 0x00ff_ffff)));
        prop_assert!(!blocked(ip));
    }
}

#[test]
fn range_edges_are_exact() {
    for (s, b) in [
        ("0.0.0.0", true),
        ("126.255.255.255", true),
        ("127.0.0.0", false),
        ("127.255.255.255", false),
        ("128.0.0.0", true),
        ("255.255.255.255", true),
        ("::", true),
        ("::1", false),
        ("::2", true),
        ("::ffff:127.0.0.1", true),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
    ] {
        let ip: IpAddr = s.parse().unwrap();
        assert_eq!(blocked(ip), b, "{s}");
    }
    // The ranges do not overlap: each blocked address is in exactly one.
    for s in [
        "0.0.0.0",
        "126.0.0.1",
        "128.0.0.0",
        "::",
        "::2",
        "2001:db8::1",
    ] {
        let ip: IpAddr = s.parse().unwrap();
        assert_eq!(
            non_loopback_ranges()
                .iter()
                .filter(|r| r.contains(ip))
                .count(),
            1,
            "{s}"
        );
    }
}

#[test]
fn runner_rules_block_both_directions_for_the_runner_program() {
    let rules = runner_rules("r-42", Path::new(RUNNER)).unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].direction, Direction::Outbound);
    assert_eq!(rules[1].direction, Direction::Inbound);
    for r in &rules {
        assert_eq!(r.name, "SecLlama-r-42");
        assert_eq!(r.program, PathBuf::from(RUNNER));
        assert_eq!(r.remote_ranges, non_loopback_ranges());
    }
}

#[test]
fn netsh_add_and_delete_argument_vectors_match_the_golden_files() {
    let rules = runner_rules("r-42", Path::new(RUNNER)).unwrap();
    let mut text = String::new();
    for r in &rules {
        text.push_str(&netsh_path(r"C:\Windows\"));
        text.push('\n');
        for a in r.add_args().unwrap() {
            text.push_str(&a);
            text.push('\n');
        }
        text.push('\n');
    }
    for a in delete_args("r-42").unwrap() {
        text.push_str(&a);
        text.push('\n');
    }
    golden("netsh_runner_r-42.argv", &text);
    // The program path is one argv item even with spaces: no shell ever splits it.
    let add = rules[0].add_args().unwrap();
    assert_eq!(add.iter().filter(|a| a.starts_with("program=")).count(), 1);
    assert!(add.contains(&format!("program={RUNNER}")));
    assert_eq!(
        list_args(),
        ["advfirewall", "firewall", "show", "rule", "name=all"]
    );
}

#[test]
fn program_paths_netsh_cannot_represent_are_refused() {
    for (bad, why) in [
        (r"runner.exe", "absolute drive path"),
        (r"\\server\share\runner.exe", "absolute drive path"),
        (r"\\?\C:\runner.exe", "absolute drive path"),
        (r"C:\a%TEMP%\runner.exe", "'%'"),
        (r"C:\a=b\runner.exe", "'='"),
        ("C:\\a\"b\\runner.exe", "double quote"),
        ("C:\\a\nb\\runner.exe", "control"),
    ] {
        match runner_rules("x", Path::new(bad)) {
            Err(SandboxError::UnrepresentablePath { path, reason }) => {
                assert_eq!(path, PathBuf::from(bad));
                assert!(reason.contains(why), "{bad:?}: {reason}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let long = format!("C:\\{}\\r.exe", "d".repeat(300));
    assert!(matches!(
        runner_rules("x", Path::new(&long)),
        Err(SandboxError::UnrepresentablePath { .. })
    ));
    // Spaces, parentheses, non-ASCII letters are fine.
    runner_rules("x", Path::new(r"C:\Program Files (x86)\Späß\r.exe")).unwrap();
}

#[test]
fn invalid_runner_ids_are_refused_before_any_rule_exists() {
    for bad in ["", "a b", "a=b", "../x", "x\"y"] {
        assert!(
            matches!(
                runner_rules(bad, Path::new(RUNNER)),
                Err(SandboxError::InvalidRunnerId { .. })
            ),
            "{bad:?}"
        );
        assert!(matches!(
            delete_args(bad),
            Err(SandboxError::InvalidRunnerId { .. })
        ));
    }
}

#[test]
fn stale_rules_are_found_in_english_and_localized_netsh_output() {
    let output = "\r\nRule Name:                            SecLlama-run-1\r\n\
        ----------------------------------------------------------------------\r\n\
        Enabled:                              Yes\r\nDirection:                            Out\r\n\
        \r\nRule Name:                            SecLlama-run-1\r\nDirection: In\r\n\
        \r\nRegelname:                            SecLlama-abc_2\r\n\
        Rule Name:                            Some Other App\r\n\
        Rule Name:                            SecLlama-bad id\r\n\
        Rule Name:                            NotSecLlama-x\r\nOk.\r\n";
    assert_eq!(
        parse_rule_names(output),
        ["SecLlama-run-1", "SecLlama-abc_2"]
    );
    let plan = cleanup_plan(output);
    assert_eq!(
        plan,
        [delete_args("run-1").unwrap(), delete_args("abc_2").unwrap()]
    );
    assert!(cleanup_plan("No rules match the specified criteria.").is_empty());
}

#[test]
fn job_limits_come_from_the_policy_limits() {
    let j = JobLimits::from_limits(&ResourceLimits {
        address_space: Some(4 << 30),
        cpu_seconds: Some(3600),
        open_files: Some(10),
        processes: Some(2),
    });
    assert_eq!(j.process_memory, Some(4 << 30));
    assert_eq!(j.process_time_100ns, Some(36_000_000_000));
    assert_eq!(j.active_processes, Some(2));
    // Kill on close | die on unhandled exception | memory | time | active processes.
    assert_eq!(j.limit_flags(), 0x2000 | 0x400 | 0x100 | 0x2 | 0x8);
}
