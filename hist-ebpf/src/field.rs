//! Reading a kernel value through a [`FieldPath`] resolved at load.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use hist_core::{FieldPath, MAX_FIELD_STEPS};

/// The value of type `T` that `path` leads to from `base` (a kernel pointer the probe has: a
/// tp_btf or fentry argument, `bpf_get_current_task()`): each step but the last reads a pointer
/// at its offset, the last reads the value. `None` when the kernel has no such field
/// ([`FieldPath::ABSENT`]) or a read fails (a NULL pointer on the way).
#[inline(always)]
pub fn read_field<T: Copy>(base: u64, path: &FieldPath) -> Option<T> {
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an error, not a fault.
    let pointer = |at: u64| unsafe { bpf_probe_read_kernel(at as *const u64) }.ok();
    // SAFETY: as above.
    let value = |at: u64| unsafe { bpf_probe_read_kernel(at as *const T) }.ok();
    walk(base, path, pointer, value)
}

/// [`read_field`] from a pointer the verifier knows the type of (a tp_btf or fentry argument as
/// the program got it, not a copy through a helper): plain loads, which the verifier checks
/// against the kernel's BTF and the JIT guards against faults, where `read_field` calls
/// `bpf_probe_read_kernel` for each step. The offsets must be constants to the verifier (read
/// in place from the loaded config, which is read-only and frozen: [`Config::get`](crate::Config::get)),
/// so that each load is at a known member. A NULL pointer on the way reads as zero.
#[inline(always)]
pub fn read_btf_field<T: Copy>(base: u64, path: &FieldPath) -> Option<T> {
    // SAFETY: a member of a kernel struct the verifier typed from BTF; a load the JIT guards
    // (BPF_PROBE_MEM), so a bad address reads zero instead of faulting.
    let pointer = |at: u64| Some(unsafe { core::ptr::read_volatile(at as *const u64) });
    // SAFETY: as above.
    let value = |at: u64| Some(unsafe { core::ptr::read_volatile(at as *const T) });
    walk(base, path, pointer, value)
}

/// Follows `path` from `base`: each step but the last reads a pointer at its offset with
/// `pointer`, the last reads the value with `value`.
#[inline(always)]
fn walk<T: Copy>(
    base: u64,
    path: &FieldPath,
    pointer: impl Fn(u64) -> Option<u64>,
    value: impl FnOnce(u64) -> Option<T>,
) -> Option<T> {
    let steps = path.steps() as usize;
    let mut address = base;
    // Unrolled, each step's offset is read at a constant index: 5.10's verifier refuses a read
    // of the path (a copy on the stack) at an index it does not know, which `offsets[steps - 1]`
    // would be where it lost track of `steps` through that copy.
    for step in 0..MAX_FIELD_STEPS {
        if step >= steps {
            break;
        }
        let at = address.wrapping_add(path.offset(step) as u64);
        if step + 1 == steps {
            return value(at);
        }
        address = pointer(at)?;
    }
    None
}

/// Argument `index` of a tp_btf, raw tracepoint or fentry program whose context holds at least
/// `N` arguments, `ctx` that context (`ctx.as_ptr()`), when the index is chosen at load (from
/// BTF: `KernelBtf::tracepoint_args`) rather than compiled in; `None` for an index from `N` on.
///
/// The verifier refuses a context read at a variable offset, or past the tracepoint's last
/// argument, and LLVM turns `match index { 0 => ctx.arg(0), 1 => ctx.arg(1), … }` into a read
/// at a variable offset. Here all `N` arguments are read, each at its own constant offset
/// (volatile, so that the reads are neither merged nor dropped), then one is picked.
#[inline(always)]
pub fn arg_at<const N: usize>(ctx: *mut core::ffi::c_void, index: u32) -> Option<u64> {
    let args = ctx as *const u64;
    // SAFETY: the `N` arguments the context holds, each at a constant offset once unrolled.
    let all: [u64; N] = core::array::from_fn(|i| unsafe { core::ptr::read_volatile(args.add(i)) });
    all.get(index as usize).copied()
}
