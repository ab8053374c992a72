//! Kernel struct fields, named as chains of `struct.member` steps, resolved from BTF into the
//! offsets a probe reads them at ([`hist_core::FieldPath`]).

use hist_core::FieldPath;

use super::{KernelBtf, KernelError};

/// A kernel value a probe reads, named once: chains of `struct.member` steps through pointers,
/// the first that this kernel's BTF has all of wins. Alternatives cover kernels where a field
/// moved.
///
/// ```
/// use hist_attach::kernel::KernelField;
/// /// The disk's major number of a block request: through the queue since 5.17, `rq_disk` before.
/// const DISK_MAJOR: KernelField = KernelField {
///     name: "the disk of a request",
///     chains: &[
///         &["request.q", "request_queue.disk", "gendisk.major"],
///         &["request.rq_disk", "gendisk.major"],
///     ],
/// };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelField {
    /// What the value is, for the error when no chain resolves.
    pub name: &'static str,
    /// `struct.member` steps, best chain first: every step but the last is a pointer member,
    /// followed to the struct of the next step; a step written `+struct.member` is a member of
    /// the struct embedded at the step before it (`pid_namespace.ns`, then `+ns_common.inum`).
    pub chains: &'static [&'static [&'static str]],
}

/// A task's state: `task_struct.__state` since Linux 5.14, `task_struct.state` before.
pub const TASK_STATE: KernelField = KernelField {
    name: "task state",
    chains: &[&["task_struct.__state"], &["task_struct.state"]],
};

impl KernelField {
    /// The chains as `a.b → c.d, e.f → g.h`.
    fn tried(&self) -> String {
        let chains = self.chains.iter().map(|chain| chain.join(" → "));
        chains.collect::<Vec<_>>().join(", ")
    }
}

impl KernelBtf {
    /// Where `field` is on this kernel: the offsets of its first chain whose every step vmlinux
    /// BTF has, or [`FieldPath::ABSENT`] when none has them all (a step without a `.`, or a chain
    /// longer than [`hist_core::MAX_FIELD_STEPS`], never resolves).
    ///
    /// # Errors
    ///
    /// As [`member_offset`](Self::member_offset): malformed BTF, or a step that is a bitfield.
    pub fn resolve_field(&self, field: &KernelField) -> Result<FieldPath, KernelError> {
        'chains: for chain in field.chains {
            let mut offsets = Vec::with_capacity(chain.len());
            for step in *chain {
                let (embedded, step) = match step.strip_prefix('+') {
                    Some(step) => (true, step),
                    None => (false, *step),
                };
                let Some((name, member)) = step.split_once('.') else {
                    continue 'chains;
                };
                let Some(offset) = self.member_offset(name, member)? else {
                    continue 'chains;
                };
                match (embedded, offsets.last_mut()) {
                    (true, Some(last)) => *last += offset,
                    (true, None) => continue 'chains,
                    (false, _) => offsets.push(offset),
                }
            }
            if let Some(path) = FieldPath::new(&offsets) {
                return Ok(path);
            }
        }
        Ok(FieldPath::ABSENT)
    }

    /// Like [`resolve_field`](Self::resolve_field), for a field the tool cannot do without.
    ///
    /// # Errors
    ///
    /// [`KernelError::FieldAbsent`], one line naming the field and every chain tried, when this
    /// kernel has none of them; and as [`resolve_field`](Self::resolve_field).
    pub fn require_field(&self, field: &KernelField) -> Result<FieldPath, KernelError> {
        let path = self.resolve_field(field)?;
        match path.is_present() {
            true => Ok(path),
            false => Err(KernelError::FieldAbsent {
                field: field.name,
                tried: field.tried(),
            }),
        }
    }
}
