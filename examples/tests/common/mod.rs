pub(crate) mod pty;
