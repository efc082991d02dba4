//! Windows firewall rule generation and `netsh` output parsing from arbitrary runner ids,
//! program paths and command output: an accepted rule always has the fixed argv shape with the
//! name and path intact, ids round-trip through rule names, and parsing never yields a name
//! this crate would not have created.
#![no_main]

use std::path::PathBuf;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_sandbox::SandboxError;
use secllama_sandbox::internal::{
    MAX_PROGRAM_PATH_LEN, MAX_RUNNER_ID_LEN, RULE_PREFIX, check_program_path, cleanup_plan,
    delete_args, parse_rule_names, rule_name, runner_id_from_rule_name, runner_rules,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    runner_id: &'a str,
    program: &'a str,
    netsh_output: &'a str,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_RUNNER_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fuzz_target!(|input: Input<'_>| {
    let id = input.runner_id;
    match rule_name(id) {
        Ok(name) => {
            assert!(valid_id(id));
            assert_eq!(name, format!("{RULE_PREFIX}{id}"));
            assert_eq!(runner_id_from_rule_name(&name), Some(id));
            let del = delete_args(id).expect("valid id");
            assert_eq!(del.last(), Some(&format!("name={name}")));
        }
        Err(SandboxError::InvalidRunnerId { id: shown }) => {
            assert!(!valid_id(id));
            assert!(shown.chars().count() <= MAX_RUNNER_ID_LEN + 8);
        }
        Err(e) => panic!("unexpected {e:?}"),
    }

    let program = PathBuf::from(input.program);
    let path_ok = check_program_path(&program).is_ok();
    if path_ok {
        let s = input.program;
        assert!(s.len() <= MAX_PROGRAM_PATH_LEN);
        assert!(!s.contains(['"', '%', '=']) && !s.chars().any(char::is_control));
        assert!(s.as_bytes()[0].is_ascii_alphabetic() && &s.as_bytes()[1..3] == b":\\");
    }
    match runner_rules(id, &program) {
        Ok(rules) => {
            assert!(valid_id(id) && path_ok);
            assert_eq!(rules.len(), 2);
            for r in rules {
                let args = r.add_args().expect("checked rule renders");
                assert_eq!(args.len(), 12);
                assert_eq!(&args[..4], ["advfirewall", "firewall", "add", "rule"]);
                assert_eq!(args[4], format!("name={RULE_PREFIX}{id}"));
                assert_eq!(args[6], "action=block");
                assert_eq!(args[7], format!("program={}", input.program));
                // One argv item each: nothing a path contains can add or split an item.
                assert_eq!(args.iter().filter(|a| a.starts_with("program=")).count(), 1);
                assert!(args[11].starts_with("remoteip="));
                assert!(!args[11].contains("127."));
            }
        }
        Err(_) => assert!(!valid_id(id) || !path_ok),
    }

    for name in parse_rule_names(input.netsh_output) {
        let rid = runner_id_from_rule_name(&name).expect("parsed names are ours");
        assert!(valid_id(rid));
        assert!(input.netsh_output.contains(name.as_str()));
    }
    for args in cleanup_plan(input.netsh_output) {
        assert_eq!(args.len(), 5);
        assert_eq!(args[2], "delete");
    }
});
