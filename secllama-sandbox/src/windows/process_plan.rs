//! How the runner process is created on Windows, as data: the `CreateProcessW` command line
//! and environment block, and the process/thread attributes set at creation. Pure code:
//! compiled and tested on every OS; `launch.rs` (`cfg(windows)`) hands it to the Win32 calls.

use std::ffi::OsStr;

/// `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` (Win32 value; checked against `windows-sys` on Windows).
pub(crate) const ATTR_HANDLE_LIST: usize = 0x0002_0002;
/// `PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES`.
pub(crate) const ATTR_SECURITY_CAPABILITIES: usize = 0x0002_0009;
/// `PROC_THREAD_ATTRIBUTE_JOB_LIST`.
pub(crate) const ATTR_JOB_LIST: usize = 0x0002_000d;
/// `PROC_THREAD_ATTRIBUTE_CHILD_PROCESS_POLICY`.
pub(crate) const ATTR_CHILD_PROCESS_POLICY: usize = 0x0002_000e;
/// `PROCESS_CREATION_CHILD_PROCESS_RESTRICTED`: the process cannot create processes.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) const CHILD_PROCESS_RESTRICTED: u32 = 0x01;

/// `EXTENDED_STARTUPINFO_PRESENT`.
pub(crate) const EXTENDED_STARTUPINFO_PRESENT: u32 = 0x0008_0000;
/// `CREATE_UNICODE_ENVIRONMENT`.
pub(crate) const CREATE_UNICODE_ENVIRONMENT: u32 = 0x0000_0400;
/// `CREATE_NO_WINDOW`: no console window for the runner.
pub(crate) const CREATE_NO_WINDOW: u32 = 0x0800_0000;

/// One attribute set on the runner at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreationAttribute {
    /// The AppContainer SID with no capabilities.
    SecurityCapabilities,
    /// Exactly these many handles are inherited (stdio and the channel), no other.
    HandleList(usize),
    /// The job the process is in from its first instruction.
    JobList,
    /// No child processes at all.
    ChildProcessRestricted,
}

impl CreationAttribute {
    /// The `PROC_THREAD_ATTRIBUTE_*` number.
    pub fn attribute(self) -> usize {
        match self {
            CreationAttribute::SecurityCapabilities => ATTR_SECURITY_CAPABILITIES,
            CreationAttribute::HandleList(_) => ATTR_HANDLE_LIST,
            CreationAttribute::JobList => ATTR_JOB_LIST,
            CreationAttribute::ChildProcessRestricted => ATTR_CHILD_PROCESS_POLICY,
        }
    }
}

/// The attributes of a runner process: in an AppContainer when `container`, always with the
/// inherited handles listed (`handles` of them), in its job, and unable to start processes.
pub fn creation_attributes(container: bool, handles: usize) -> Vec<CreationAttribute> {
    let mut v = Vec::with_capacity(4);
    if container {
        v.push(CreationAttribute::SecurityCapabilities);
    }
    v.push(CreationAttribute::HandleList(handles));
    v.push(CreationAttribute::JobList);
    v.push(CreationAttribute::ChildProcessRestricted);
    v
}

/// The `CreateProcessW` flags of a runner.
pub fn creation_flags() -> u32 {
    EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW
}

/// The command line `CommandLineToArgvW` (and the C runtime) splits back into exactly
/// `program` and `args`: each quoted where needed, backslashes doubled only before a quote.
pub fn command_line(program: &OsStr, args: &[&OsStr]) -> String {
    let mut out = String::new();
    // The program (argv[0]) is parsed without backslash escapes: quote it whole.
    out.push('"');
    out.push_str(&program.to_string_lossy());
    out.push('"');
    for arg in args {
        out.push(' ');
        quote_arg(&arg.to_string_lossy(), &mut out);
    }
    out
}

fn quote_arg(arg: &str, out: &mut String) {
    let needs = arg.is_empty() || arg.contains([' ', '\t', '\n', '\u{b}', '"']);
    if !needs {
        out.push_str(arg);
        return;
    }
    out.push('"');
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
}

/// The `CREATE_UNICODE_ENVIRONMENT` block: `NAME=VALUE` entries sorted by name
/// (case-insensitively, as Windows keeps them), each NUL-terminated, then one more NUL. An
/// empty environment is two NULs. Entries whose name is empty or holds `=` or NUL, or whose
/// value holds NUL, are dropped.
pub fn environment_block(vars: &[(String, String)]) -> Vec<u16> {
    let mut vars: Vec<&(String, String)> = vars
        .iter()
        .filter(|(k, v)| !k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0'))
        .collect();
    vars.sort_by_key(|(k, _)| k.to_uppercase());
    let mut block = Vec::new();
    for (k, v) in vars {
        block.extend(k.encode_utf16());
        block.push(u16::from(b'='));
        block.extend(v.encode_utf16());
        block.push(0);
    }
    if block.is_empty() {
        block.push(0);
    }
    block.push(0);
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runner_is_contained_lists_its_handles_joins_its_job_and_cannot_fork() {
        assert_eq!(
            creation_attributes(true, 6),
            vec![
                CreationAttribute::SecurityCapabilities,
                CreationAttribute::HandleList(6),
                CreationAttribute::JobList,
                CreationAttribute::ChildProcessRestricted,
            ]
        );
        // Without the container (best effort) everything else stays.
        assert_eq!(creation_attributes(false, 6).len(), 3);
        assert_eq!(
            creation_attributes(false, 6)
                .iter()
                .map(|a| a.attribute())
                .collect::<Vec<_>>(),
            vec![0x20002, 0x2000d, 0x2000e]
        );
        assert_eq!(creation_flags(), 0x0808_0400);
    }

    #[test]
    fn command_lines_split_back_into_the_same_arguments() {
        let os = |s: &'static str| OsStr::new(s);
        assert_eq!(
            command_line(
                os(r"C:\Program Files\SecLlama\secllama-runner.exe"),
                &[os("--in-handle"), os("1234")]
            ),
            r#""C:\Program Files\SecLlama\secllama-runner.exe" --in-handle 1234"#
        );
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("a b", r#""a b""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"C:\dir\", r"C:\dir\"),
            (r"C:\my dir\", r#""C:\my dir\\""#),
            (r#"a\"b"#, r#""a\\\"b""#),
            ("tab\there", "\"tab\there\""),
        ];
        for (arg, want) in cases {
            let mut out = String::new();
            quote_arg(arg, &mut out);
            assert_eq!(&out, want, "{arg:?}");
        }
    }

    #[test]
    fn the_environment_block_is_sorted_terminated_and_drops_malformed_entries() {
        let v = |k: &str, val: &str| (k.to_owned(), val.to_owned());
        let block = environment_block(&[
            v("b", "2"),
            v("A", "1"),
            v("=C:", "x"),
            v("BAD\0", "y"),
            v("Z", "nul\0"),
        ]);
        let want: Vec<u16> = "A=1\0b=2\0\0".encode_utf16().collect();
        assert_eq!(block, want);
        assert_eq!(environment_block(&[]), vec![0, 0]);
    }
}
