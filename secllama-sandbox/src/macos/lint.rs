//! A linter for the Seatbelt profiles SecLlama generates: it parses the SBPL text and checks it
//! against the rules the profile promises, so a change to the builder that widens the sandbox
//! fails a test on any OS, long before anyone runs it on a Mac.
//!
//! The rules:
//! - the profile starts with `(version 1)` then `(deny default)`; every other form is an
//!   `(allow OPERATION... FILTER...)` with operations and filters from a known list;
//! - no allow without a filter, except for the operations in [`FILTERLESS_OPERATIONS`];
//! - each operation takes only the filters that make sense for it (paths for file operations,
//!   IOKit classes for IOKit, service names for `mach-lookup`, ...);
//! - exec only of the runner itself (`(literal (param "PROGRAM"))`); network only to the IPC
//!   socket parameter; writes only under parameters or to `/dev/null`;
//! - every `(param "NAME")` is one of the profile's parameters, and every parameter is used.

use std::collections::BTreeSet;

/// Operations a SecLlama profile may allow.
pub const KNOWN_OPERATIONS: &[&str] = &[
    "file-read*",
    "file-read-metadata",
    "file-write*",
    "file-write-data",
    "file-map-executable",
    "file-ioctl",
    "process-exec",
    "process-fork",
    "process-info*",
    "signal",
    "sysctl-read",
    "iokit-open",
    "iokit-get-properties",
    "mach-lookup",
    "network-outbound",
];

/// Operations that may be allowed without a filter: forking copies the sandbox onto the child,
/// so it grants nothing new.
pub const FILTERLESS_OPERATIONS: &[&str] = &["process-fork"];

/// Which filters each kind of operation accepts.
fn filters_for(operation: &str) -> &'static [&'static str] {
    match operation {
        "file-read*"
        | "file-read-metadata"
        | "file-write*"
        | "file-write-data"
        | "file-map-executable"
        | "file-ioctl"
        | "process-exec"
        | "network-outbound" => &["literal", "subpath"],
        "process-info*" | "signal" => &["target"],
        "sysctl-read" => &["sysctl-name", "sysctl-name-prefix"],
        "iokit-open" => &["iokit-user-client-class", "iokit-connection"],
        "iokit-get-properties" => &["iokit-property"],
        "mach-lookup" => &["global-name", "xpc-service-name"],
        _ => &[],
    }
}

/// One parsed S-expression.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sexp {
    Atom(String),
    Str(String),
    List(Vec<Sexp>),
}

/// Splits SBPL text into S-expressions (comments start with `;` outside strings).
fn parse(text: &str) -> Result<Vec<Sexp>, String> {
    let mut stack: Vec<Vec<Sexp>> = vec![Vec::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ';' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' => stack.push(Vec::new()),
            ')' => {
                let list = stack.pop().ok_or("unbalanced ')'")?;
                stack
                    .last_mut()
                    .ok_or("unbalanced ')'")?
                    .push(Sexp::List(list));
            }
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => return Err("escape sequences are not generated".into()),
                        Some(c) => s.push(c),
                    }
                }
                stack
                    .last_mut()
                    .ok_or("string outside any form")?
                    .push(Sexp::Str(s));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut atom = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '(' | ')' | '"' | ';') {
                        break;
                    }
                    atom.push(n);
                    chars.next();
                }
                stack
                    .last_mut()
                    .ok_or("atom outside any form")?
                    .push(Sexp::Atom(atom));
            }
        }
    }
    match (stack.pop(), stack.is_empty()) {
        (Some(top), true) => Ok(top),
        _ => Err("unbalanced '('".into()),
    }
}

/// The value of a path filter's argument: a quoted absolute path, or `(param "NAME")`.
enum PathArg<'a> {
    Constant(&'a str),
    Param(&'a str),
}

fn path_arg(args: &[Sexp]) -> Result<PathArg<'_>, String> {
    match args {
        [Sexp::Str(s)] if s.starts_with('/') => Ok(PathArg::Constant(s)),
        [Sexp::List(inner)] => match inner.as_slice() {
            [Sexp::Atom(p), Sexp::Str(name)] if p == "param" => Ok(PathArg::Param(name)),
            _ => Err(format!(
                "path filter argument {inner:?} is not (param \"NAME\")"
            )),
        },
        _ => Err(format!(
            "path filter argument {args:?} is neither an absolute path nor a parameter"
        )),
    }
}

/// Checks one `(allow ...)` form; records the parameters it uses.
fn check_allow(form: &[Sexp], used: &mut BTreeSet<String>) -> Result<(), String> {
    let mut operations = Vec::new();
    let mut filters = Vec::new();
    for item in form {
        match item {
            Sexp::Atom(op) if filters.is_empty() => operations.push(op.as_str()),
            Sexp::List(f) => filters.push(f.as_slice()),
            other => return Err(format!("unexpected {other:?} in an allow form")),
        }
    }
    if operations.is_empty() {
        return Err("allow without an operation".into());
    }
    for op in &operations {
        if !KNOWN_OPERATIONS.contains(op) {
            return Err(format!("unknown operation {op}"));
        }
        if filters.is_empty() && !FILTERLESS_OPERATIONS.contains(op) {
            return Err(format!("{op} is allowed without a filter"));
        }
    }
    for filter in &filters {
        let (name, args) = match filter.split_first() {
            Some((Sexp::Atom(name), args)) => (name.as_str(), args),
            _ => return Err(format!("malformed filter {filter:?}")),
        };
        for op in &operations {
            if !filters_for(op).contains(&name) {
                return Err(format!("filter {name} does not belong with {op}"));
            }
        }
        match name {
            "literal" | "subpath" => {
                let arg = path_arg(args)?;
                if let PathArg::Param(p) = arg {
                    used.insert(p.to_owned());
                }
                check_path_rule(&operations, name, &arg)?;
            }
            "target" => {
                if !matches!(args, [Sexp::Atom(t)] if t == "self") {
                    return Err(format!("target {args:?} is not self"));
                }
            }
            _ => {
                if !matches!(args, [Sexp::Str(s)] if !s.is_empty()) {
                    return Err(format!("filter {name} needs one non-empty string"));
                }
            }
        }
    }
    Ok(())
}

/// Exec, network and write rules are the ones that would open the sandbox: pin them down.
fn check_path_rule(operations: &[&str], filter: &str, arg: &PathArg<'_>) -> Result<(), String> {
    for op in operations {
        match (*op, arg) {
            ("process-exec", PathArg::Param("PROGRAM")) if filter == "literal" => {}
            ("process-exec", _) => return Err("exec of anything but the runner".into()),
            ("network-outbound", PathArg::Param("IPC_SOCKET")) if filter == "literal" => {}
            ("network-outbound", _) => {
                return Err("network to anything but the IPC socket".into());
            }
            ("file-write*" | "file-write-data", PathArg::Constant(c)) if *c != "/dev/null" => {
                return Err(format!("write access to the constant path {c}"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Lints a profile's SBPL `text` against its parameter names.
///
/// # Errors
/// The first rule broken, as a sentence naming the form.
pub fn lint_profile(text: &str, params: &[(String, String)]) -> Result<(), String> {
    let forms = parse(text)?;
    let mut it = forms.iter();
    let version = [Sexp::Atom("version".into()), Sexp::Atom("1".into())];
    let deny_default = [Sexp::Atom("deny".into()), Sexp::Atom("default".into())];
    if !matches!(it.next(), Some(Sexp::List(v)) if v.as_slice() == version) {
        return Err("the profile does not start with (version 1)".into());
    }
    if !matches!(it.next(), Some(Sexp::List(v)) if v.as_slice() == deny_default) {
        return Err("(deny default) is not the second form".into());
    }
    let mut used = BTreeSet::new();
    for form in it {
        match form {
            Sexp::List(items) => match items.split_first() {
                Some((Sexp::Atom(head), rest)) if head == "allow" => {
                    check_allow(rest, &mut used).map_err(|e| format!("{e}: {items:?}"))?;
                }
                _ => return Err(format!("a top-level form that is not an allow: {items:?}")),
            },
            other => return Err(format!("a top-level {other:?} outside any form")),
        }
    }
    let defined: BTreeSet<String> = params.iter().map(|(n, _)| n.clone()).collect();
    if let Some(undefined) = used.difference(&defined).next() {
        return Err(format!("parameter {undefined} is used but not defined"));
    }
    if let Some(unused) = defined.difference(&used).next() {
        return Err(format!("parameter {unused} is defined but never used"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), "/x".to_owned()))
            .collect()
    }

    const HEAD: &str = "(version 1)\n(deny default)\n";

    #[test]
    fn accepts_a_minimal_profile() {
        let text = format!(
            "{HEAD}(allow process-exec (literal (param \"PROGRAM\")))\n(allow process-fork)\n"
        );
        assert_eq!(lint_profile(&text, &p(&["PROGRAM"])), Ok(()));
    }

    #[test]
    fn refuses_each_way_of_widening_the_sandbox() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("(allow file-read-metadata)", &[], "without a filter"),
            ("(allow iokit-get-properties)", &[], "without a filter"),
            ("(allow default)", &[], "unknown operation default"),
            ("(allow network*)", &[], "unknown operation network*"),
            (
                "(allow network-outbound (literal \"/var/run/mDNSResponder\"))",
                &[],
                "network to anything but the IPC socket",
            ),
            (
                "(allow process-exec (literal (param \"RO_0\")))",
                &["RO_0"],
                "exec of anything but the runner",
            ),
            (
                "(allow file-write* (subpath \"/Users\"))",
                &[],
                "write access to the constant path /Users",
            ),
            (
                "(allow file-read* (regex #\"^/\"))",
                &[],
                "filter regex does not belong",
            ),
            (
                "(allow mach-lookup (subpath \"/\"))",
                &[],
                "filter subpath does not belong with mach-lookup",
            ),
            (
                "(allow signal (target others))",
                &[],
                "target [Atom(\"others\")] is not self",
            ),
            (
                "(allow file-read* (subpath \"relative\"))",
                &[],
                "neither an absolute path",
            ),
            (
                "(allow file-read* (subpath (param \"RO_9\")))",
                &[],
                "parameter RO_9 is used but not defined",
            ),
            (
                "(allow process-fork)",
                &["RO_0"],
                "RO_0 is defined but never used",
            ),
            ("(deny file-read*)", &[], "not an allow"),
        ];
        for (form, params, expected) in cases {
            let err = lint_profile(&format!("{HEAD}{form}\n"), &p(params)).unwrap_err();
            assert!(err.contains(expected), "{form}: {err}");
        }
    }

    #[test]
    fn refuses_malformed_text_and_a_missing_header() {
        for (text, expected) in [
            (
                "(version 1)\n(allow process-fork)\n",
                "(deny default) is not",
            ),
            ("(deny default)\n", "does not start with (version 1)"),
            (
                "(version 1)\n(deny default)\n(allow process-fork",
                "unbalanced '('",
            ),
            ("(version 1))", "unbalanced ')'"),
            (
                "(version 1)\n(deny default)\n(allow file-read* (literal \"/a",
                "unterminated",
            ),
        ] {
            let err = lint_profile(text, &[]).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn comments_and_strings_do_not_confuse_the_parser() {
        let text = format!(
            "{HEAD};; (allow default) in a comment\n(allow sysctl-read (sysctl-name \"a;b)\"))\n"
        );
        assert_eq!(lint_profile(&text, &[]), Ok(()));
    }
}
