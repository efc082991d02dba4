//! The host↔runner channel, behind one `cfg` seam per OS: how the host makes the channel and
//! the key pipe, what the runner's command line says about them, and how the runner opens
//! them again. Everything else (framing, sealing, routing) sees only [`Channel`], a duplex byte
//! stream with `try_clone` and `shutdown`.
//!
//! - Unix ([`unix`]): a socket pair for the frames and a pipe for the session key, both
//!   close-on-exec; the runner's two ends are made inheritable only in the forked child, just
//!   before `exec`, and named on its command line as `--socket-fd N --key-fd M`.
//! - Windows ([`windows`]): three anonymous pipes (host→runner, runner→host, key), none of them
//!   inheritable; the sandbox's launcher passes exactly the runner's three ends with
//!   `PROC_THREAD_ATTRIBUTE_HANDLE_LIST`, named on its command line as
//!   `--in-handle A --out-handle B --key-handle C`.

use secllama_sandbox::SyscallProfile;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::{Channel, ChildEnds, HostEnds, open_child_ends, pipe_cloexec};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::{Channel, ChildEnds, HostEnds, open_child_ends, pipe};

/// Splits `--syscalls cpu|gpu` (the allow-list the runner installs on itself, passed by the
/// host when the sandbox's seccomp layer is on) off the runner's command line; the rest names
/// its ends (pure: tested on every OS).
pub(crate) fn split_syscalls(
    args: &[String],
) -> Result<(Vec<String>, Option<SyscallProfile>), String> {
    let mut rest = Vec::with_capacity(args.len());
    let mut profile = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg != "--syscalls" {
            rest.push(arg.clone());
            continue;
        }
        let value = it.next().ok_or("--syscalls needs a value")?;
        let parsed = SyscallProfile::from_name(value)
            .ok_or_else(|| format!("--syscalls: unknown profile {value:?}"))?;
        if profile.replace(parsed).is_some() {
            return Err("--syscalls given twice".into());
        }
    }
    Ok((rest, profile))
}

/// The runner's command-line arguments naming its ends, parsed (pure: tested on every OS).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChildArgs {
    /// Each `--NAME VALUE` pair, in the order of `names`.
    pub(crate) values: Vec<u64>,
}

/// Parses `--NAME VALUE` pairs where every name in `names` must appear exactly once with a
/// decimal value of at least `min` and all values differ; anything else is refused.
pub(crate) fn parse_child_args(
    args: &[String],
    names: &[&str],
    min: u64,
) -> Result<ChildArgs, String> {
    let mut values: Vec<Option<u64>> = vec![None; names.len()];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(slot) = names.iter().position(|n| *n == arg.as_str()) else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let v: u64 = value
            .parse()
            .map_err(|_| format!("{arg}: not a descriptor number"))?;
        if v < min {
            return Err(format!("{arg}: descriptor {v} is reserved"));
        }
        if values[slot].replace(v).is_some() {
            return Err(format!("{arg} given twice"));
        }
    }
    let values: Vec<u64> = values.into_iter().flatten().collect();
    let mut distinct = values.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if values.len() != names.len() || distinct.len() != names.len() {
        return Err(format!(
            "{} ({} different descriptors) are required",
            names.join(", "),
            names.len()
        ));
    }
    Ok(ChildArgs { values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_syscall_profile_is_split_off_and_checked() {
        assert_eq!(
            split_syscalls(&args(&[
                "--socket-fd",
                "5",
                "--syscalls",
                "gpu",
                "--key-fd",
                "6"
            ])),
            Ok((
                args(&["--socket-fd", "5", "--key-fd", "6"]),
                Some(SyscallProfile::Gpu)
            ))
        );
        assert_eq!(
            split_syscalls(&args(&["--socket-fd", "5", "--key-fd", "6"])),
            Ok((args(&["--socket-fd", "5", "--key-fd", "6"]), None))
        );
        assert_eq!(
            split_syscalls(&args(&["--socket-fd", "5", "--syscalls", "x"])),
            Err(r#"--syscalls: unknown profile "x""#.to_owned())
        );
        assert_eq!(
            split_syscalls(&args(&["--key-fd", "6", "--syscalls"])),
            Err("--syscalls needs a value".to_owned())
        );
        assert_eq!(
            split_syscalls(&args(&["--syscalls", "cpu", "--syscalls", "gpu"])),
            Err("--syscalls given twice".to_owned())
        );
    }

    #[test]
    fn child_arguments_need_every_name_once_with_distinct_values_above_the_minimum() {
        let names = ["--socket-fd", "--key-fd"];
        assert_eq!(
            parse_child_args(&args(&["--key-fd", "6", "--socket-fd", "5"]), &names, 3),
            Ok(ChildArgs { values: vec![5, 6] })
        );
        let err = |v: &[&str]| parse_child_args(&args(v), &names, 3).unwrap_err();
        assert_eq!(
            err(&["--socket-fd", "5", "--key-fd", "5"]),
            "--socket-fd, --key-fd (2 different descriptors) are required"
        );
        assert_eq!(
            err(&["--socket-fd", "1", "--key-fd", "6"]),
            "--socket-fd: descriptor 1 is reserved"
        );
        assert_eq!(
            err(&["--socket-fd", "x", "--key-fd", "6"]),
            "--socket-fd: not a descriptor number"
        );
        assert_eq!(
            err(&["--socket-fd", "5", "--socket-fd", "7", "--key-fd", "6"]),
            "--socket-fd given twice"
        );
        assert_eq!(
            err(&["--model", "/etc/passwd"]),
            "unexpected argument \"--model\""
        );
        assert_eq!(err(&["--key-fd"]), "--key-fd needs a value");
        assert_eq!(
            err(&[]),
            "--socket-fd, --key-fd (2 different descriptors) are required"
        );
        // Windows handle values: three names, any value from 1.
        let win = ["--in-handle", "--out-handle", "--key-handle"];
        assert_eq!(
            parse_child_args(
                &args(&[
                    "--in-handle",
                    "4",
                    "--out-handle",
                    "8",
                    "--key-handle",
                    "12"
                ]),
                &win,
                1
            ),
            Ok(ChildArgs {
                values: vec![4, 8, 12]
            })
        );
    }
}
