//! Spawn + wait of `/bin/true`: a plain `Command` vs the same command sandboxed.
fn main() {}
