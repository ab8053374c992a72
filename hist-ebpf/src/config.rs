//! Load-time settings: one typed value that user space writes into the object before loading.

/// A read-only value that user space sets before the program is loaded (aya's
/// `EbpfLoader::override_global`; `hist_user::Tool::load` does it for a static named `CONFIG`).
///
/// Declare it `#[unsafe(no_mangle)]` so the loader finds it by name, or let
/// [`ebpf_program!`](crate::ebpf_program) do it:
///
/// ```ignore
/// #[unsafe(no_mangle)]
/// static CONFIG: hist_ebpf::Config<hist_core::Settings> =
///     hist_ebpf::Config::new(hist_core::Settings::new(hist_core::Unit::Microseconds));
/// let settings = CONFIG.get();
/// ```
#[repr(transparent)]
pub struct Config<T>(T);

impl<T: Copy> Config<T> {
    /// The value the program sees when user space does not override it.
    pub const fn new(default: T) -> Self {
        Self(default)
    }

    /// The value as loaded, in place.
    ///
    /// Only the fields a program uses are read: the compiler would fold the default into the
    /// code, so the address is read through a volatile load that it cannot see through, and
    /// the fields are plain loads from there (a volatile read of the whole value would load
    /// every field at every call). The verifier still sees loads from the frozen read-only
    /// config, whose values it knows, and drops the branches they rule out. A reference, not
    /// a copy: a field copied to the stack (a struct passed by value) is a value the verifier
    /// may no longer know, and a kernel field's offset must be known to it
    /// ([`read_btf_field`](crate::read_btf_field)).
    #[inline(always)]
    pub fn get(&self) -> &T {
        let at: *const T = &self.0;
        // SAFETY: `at` is this valid, aligned static, read back unchanged.
        unsafe { &*core::ptr::read_volatile(&at) }
    }
}
