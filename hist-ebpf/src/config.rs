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

    /// The value as loaded.
    #[inline(always)]
    pub fn get(&self) -> T {
        // SAFETY: a valid, aligned static. Volatile, because the compiler would otherwise fold
        // the default into the code, and the loader's value would never be read.
        unsafe { core::ptr::read_volatile(&self.0) }
    }
}
