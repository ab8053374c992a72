//! Kernel struct fields read at offsets resolved when the program loads.
//!
//! aya has no CO-RE for Rust eBPF programs: a probe cannot have its field offsets relocated to
//! the running kernel's layout by the loader. Instead a tool names each field it reads once, as
//! chains of `struct.member` steps through pointers (`request.q → request_queue.disk →
//! gendisk.major`) with alternatives for kernels where a field moved (`request.rq_disk →
//! gendisk.major`); user space resolves them from the running kernel's BTF into [`FieldPath`]s
//! (`hist_attach::kernel::KernelBtf::resolve_field`) and writes them into the config; the probe
//! reads through them (`hist_ebpf::read_field`).
//!
//! A path says how many steps it has, so a field at offset 0 (`request.q`) is not mistaken for
//! one this kernel does not have: [`FieldPath::ABSENT`] has none.

/// The most `struct.member` steps of a [`FieldPath`].
pub const MAX_FIELD_STEPS: usize = 4;

/// Where a kernel value is, from a pointer the probe has: the byte offset of a member in each
/// step; every step but the last reads a pointer at its offset, the last reads the value.
///
/// `#[repr(C)]`, all `u32`: no padding, so it can sit in a tool's config.
///
/// ```
/// use hist_core::FieldPath;
/// let disk_major = FieldPath::new(&[0, 112, 0]).unwrap(); // request.q, request_queue.disk, gendisk.major
/// assert_eq!(disk_major.offsets(), &[0, 112, 0]);
/// assert!(disk_major.is_present());
/// assert!(!FieldPath::ABSENT.is_present());
/// assert_eq!(FieldPath::new(&[]), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct FieldPath {
    /// How many steps: 0 when this kernel has none of the field's chains.
    steps: u32,
    /// Each step's member offset, `steps` of them.
    offsets: [u32; MAX_FIELD_STEPS],
}

impl FieldPath {
    /// A field this kernel does not have: a probe reading it gets nothing.
    pub const ABSENT: Self = Self {
        steps: 0,
        offsets: [0; MAX_FIELD_STEPS],
    };

    /// The path of these member offsets, `None` when there are none or more than
    /// [`MAX_FIELD_STEPS`].
    pub const fn new(offsets: &[u32]) -> Option<Self> {
        if offsets.is_empty() || offsets.len() > MAX_FIELD_STEPS {
            return None;
        }
        let mut path = Self::ABSENT;
        let mut i = 0;
        while i < offsets.len() {
            path.offsets[i] = offsets[i];
            i += 1;
        }
        path.steps = offsets.len() as u32;
        Some(path)
    }

    /// Whether the kernel has the field.
    #[inline(always)]
    pub const fn is_present(&self) -> bool {
        self.steps != 0
    }

    /// How many steps.
    #[inline(always)]
    pub const fn steps(&self) -> u32 {
        self.steps
    }

    /// The offset of step `step`, 0 past the last.
    #[inline(always)]
    pub const fn offset(&self, step: usize) -> u32 {
        if step < MAX_FIELD_STEPS {
            self.offsets[step]
        } else {
            0
        }
    }

    /// The member offsets, one per step.
    pub fn offsets(&self) -> &[u32] {
        let Self { steps, offsets } = self;
        &offsets[..(*steps as usize).min(MAX_FIELD_STEPS)]
    }
}

impl Default for FieldPath {
    fn default() -> Self {
        Self::ABSENT
    }
}

// With the `user` feature: user space writes paths into a program's globals.
crate::aya_pod!(FieldPath);
