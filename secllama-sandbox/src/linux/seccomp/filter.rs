//! Compiling a rule table into a BPF program (with `seccompiler`).

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use super::allow::{AllowRule, Check};
use super::arch::target_arch;
use super::table::{DenyRule, When};
use crate::error::SandboxError;

/// Compiles `table` into a BPF program returning `errno` on a match and allowing the rest.
pub fn compile(table: &[DenyRule], errno: i32) -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for r in table {
        let cond = |op: SeccompCmpOp, arg: u8, value: u64| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
                .map_err(|e| SandboxError::Seccomp(format!("{}: {e}", r.name)))
        };
        let entry = rules.entry(r.nr).or_default();
        match r.when {
            When::Always => entry.clear(),
            When::ArgNe { arg, value } => {
                entry.push(rule(vec![cond(SeccompCmpOp::Ne, arg, value)?])?)
            }
            When::ArgEq { arg, value } => {
                entry.push(rule(vec![cond(SeccompCmpOp::Eq, arg, value)?])?)
            }
            When::ArgMasked { arg, mask, value } => {
                entry.push(rule(vec![cond(SeccompCmpOp::MaskedEq(mask), arg, value)?])?)
            }
            When::ArgHasBits { arg, mask } => {
                entry.push(rule(vec![cond(SeccompCmpOp::MaskedEq(mask), arg, mask)?])?)
            }
        }
    }
    let errno = u32::try_from(errno).map_err(|_| SandboxError::Seccomp("negative errno".into()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        target_arch()?,
    )
    .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conditions).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

/// Compiles an allow-list: the listed calls (with their argument checks) are allowed, every
/// other call answers `errno`.
pub fn compile_allow(table: &[AllowRule], errno: i32) -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // A call listed without checks is allowed whatever its arguments: its rule list stays
    // empty (seccompiler's "match always"), whatever else is listed for it.
    let mut unconditional = std::collections::BTreeSet::new();
    for r in table {
        if r.checks.is_empty() {
            unconditional.insert(r.nr);
            rules.insert(r.nr, Vec::new());
            continue;
        }
        if unconditional.contains(&r.nr) {
            continue;
        }
        let conditions = r
            .checks
            .iter()
            .map(|c| {
                let (arg, len, op, value) = match *c {
                    Check::Eq { arg, value } => {
                        (arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
                    }
                    Check::Eq64 { arg, value } => {
                        (arg, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value)
                    }
                    Check::Masked { arg, mask, value } => (
                        arg,
                        SeccompCmpArgLen::Dword,
                        SeccompCmpOp::MaskedEq(mask),
                        value,
                    ),
                };
                SeccompCondition::new(arg, len, op, value)
                    .map_err(|e| SandboxError::Seccomp(format!("{}: {e}", r.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.entry(r.nr).or_default().push(rule(conditions)?);
    }
    let errno = u32::try_from(errno).map_err(|_| SandboxError::Seccomp("negative errno".into()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(errno),
        SeccompAction::Allow,
        target_arch()?,
    )
    .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string()))
}
