//! `secllama-replay-runner`: a runner that is hostile on purpose, for the CLI's tests only
//! (cargo feature `replay-runner`). It speaks the real sealed channel and answers each
//! prompt with scripted pieces that try to drive the terminal; see tests/hostile_runner.rs.

use secllama_runner::internal::{ReplayFrame, replay_runner_main};

fn piece(s: &str) -> ReplayFrame {
    ReplayFrame::Piece(s.to_owned())
}

/// The pieces sent for each prompt.
fn script(prompt: &str) -> Vec<ReplayFrame> {
    match prompt {
        "hostile" => vec![
            piece("osc52:\u{1b}]52;c;SGVsbG8=\u{7}|"),
            piece("csi:\u{1b}[2J\u{1b}[31mred\u{1b}[0m|"),
            piece("c1:\u{9b}6n|"),
            piece("dcs:\u{1b}P1$r\u{1b}\\|apc:\u{1b}_x\u{1b}\\|"),
            piece("split:\u{1b}"),
            piece("]0;title\u{7}|"),
            piece("bidi:a\u{202e}b|cr:\r|tab:\t|end"),
        ],
        "invalid-utf8" => vec![
            piece("before|"),
            ReplayFrame::RawPiece(b"\xff\xfe".to_vec()),
        ],
        // What the runner's system call allow-list lets through (the host starts this
        // runner with the same `--syscalls` argument as a real one).
        "syscalls" => vec![piece(&syscall_probe())],
        // The failure paths must still run under the allow-list: a panic writes its message
        // and exits with 101; an abort raises SIGABRT on itself.
        #[allow(clippy::panic)] // the point of this prompt
        "panic" => panic!("the replay runner panics on request"),
        "abort" => std::process::abort(),
        other => vec![piece(other)],
    }
}

/// `name:errno` (or `name:ok`) for calls outside the allow-list and for ones inside it.
fn syscall_probe() -> String {
    fn outcome(rc: i64) -> String {
        if rc >= 0 {
            return "ok".into();
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EPERM) => "EPERM".into(),
            Some(e) => format!("errno {e}"),
            None => "?".into(),
        }
    }
    let mut out = Vec::new();
    // SAFETY: utsname is plain bytes, for which all zeroes is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes into the struct we own.
    let rc = unsafe { libc::uname(&mut uts) };
    out.push(format!("uname:{}", outcome(rc.into())));
    // SAFETY: an anonymous mapping with no address hint; unmapped below if it succeeded.
    let exec = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    let rc = if exec == libc::MAP_FAILED {
        -1
    } else {
        // SAFETY: the mapping above, 4096 bytes.
        unsafe { libc::munmap(exec, 4096) };
        0
    };
    out.push(format!("mmap-exec:{}", outcome(rc)));
    // SAFETY: raw clone with SIGCHLD only (what fork does); a child that somehow started
    // would exit at once.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
    if pid == 0 {
        // SAFETY: the child of a fork ends here.
        unsafe { libc::_exit(0) };
    }
    out.push(format!("fork:{}", outcome(pid)));
    // Inside the list: a new thread, random bytes.
    let thread = std::thread::spawn(|| 7).join().map_or(-1, |v| v);
    out.push(format!("thread:{}", outcome(thread)));
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    out.push(format!("getrandom:{}", outcome(n as i64)));
    out.join(" ")
}

fn main() -> std::process::ExitCode {
    replay_runner_main(script)
}
