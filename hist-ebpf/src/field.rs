//! Reading a kernel value through a [`FieldPath`] resolved at load.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use hist_core::{FieldPath, MAX_FIELD_STEPS};

/// The value of type `T` that `path` leads to from `base` (a kernel pointer the probe has: a
/// tp_btf or fentry argument, `bpf_get_current_task()`): each step but the last reads a pointer
/// at its offset, the last reads the value. `None` when the kernel has no such field
/// ([`FieldPath::ABSENT`]) or a read fails (a NULL pointer on the way).
#[inline(always)]
pub fn read_field<T: Copy>(base: u64, path: &FieldPath) -> Option<T> {
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
            // SAFETY: bpf_probe_read_kernel checks the address; a bad one is an error, not a
            // fault.
            return unsafe { bpf_probe_read_kernel(at as *const T) }.ok();
        }
        // SAFETY: as above.
        address = unsafe { bpf_probe_read_kernel(at as *const u64) }.ok()?;
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
