//! Attaching a tool's function programs (`hist_ebpf::function_latency_probes!`) to functions
//! named at run time: copy `i` of each program on function `i` ([`hist_core::func`]).

use hist_attach::{
    functions::Function,
    kernel::{self, ModuleFunction, ModulePrograms, ModuleTracingLink, ProbeLink, ProbeTarget},
    plan::{Attached, Hook},
};

use crate::{Loaded, ToolError, Tracing};

/// A program copy attached outside the `Ebpf`, kept while tracing.
#[derive(Debug)]
pub(crate) enum CopyLink {
    /// fentry or fexit.
    Tracing(#[allow(dead_code)] ModuleTracingLink),
    /// kprobe, kretprobe, uprobe or uretprobe.
    Probe(#[allow(dead_code)] ProbeLink),
}

impl Loaded {
    /// Attaches a copy of the entry and exit programs to each of `functions`, copy `i` counting
    /// as function `i`: for a kernel function fentry/fexit where the kernel can put them on it
    /// (its BTF, vmlinux's or its module's), else kprobe/kretprobe; `--attach fentry|kprobe`
    /// forces one. A user function gets a uprobe/uretprobe, in `-p`'s process only when given.
    /// `-v` prints each function's hook. A function that cannot be traced is said on stderr and
    /// left out; none traced is an error. `functions` must not be empty.
    ///
    /// # Errors
    ///
    /// [`ToolError::Usage`] when `--attach` names another hook, or when no function could be
    /// traced (with the first one's reason).
    pub fn attach_functions(self, functions: &[Function]) -> Result<Tracing, ToolError> {
        let name = self.tool.name;
        let force = self.tool.args.attach;
        if force.is_some_and(|hook| !matches!(hook, Hook::Fentry | Hook::Kprobe)) {
            let why = "--attach takes fentry or kprobe for a function";
            return Err(ToolError::Usage(why.into()));
        }
        let programs = ModulePrograms::new(self.object, &self.ebpf)
            .map_err(|e| ToolError::Load(e.to_string()))?;
        let fentry = force != Some(Hook::Kprobe) && kernel::fentry_supported()?;
        let pid = self.tool.pid;
        let mut copies = Vec::new();
        let mut failures = Vec::new();
        for (index, function) in functions.iter().enumerate() {
            let index = index as u32;
            let attached = match function {
                Function::Kernel { name, module } => {
                    let by_fentry = fentry.then(|| {
                        let target = match module {
                            Some(module) => ModuleFunction::find(module, name),
                            None => ModuleFunction::in_vmlinux(name),
                        }?;
                        let entry = programs.attach_copy("func_fentry", index, &target)?;
                        let exit = programs.attach_copy("func_fexit", index, &target)?;
                        let links = [CopyLink::Tracing(entry), CopyLink::Tracing(exit)];
                        Ok::<_, kernel::ModuleFentryError>(("fentry", links))
                    });
                    match (by_fentry, force) {
                        (Some(Ok(links)), _) => Ok(links),
                        (Some(Err(error)), Some(Hook::Fentry)) => Err(error.to_string()),
                        (None, Some(Hook::Fentry)) => {
                            Err("this kernel refuses fentry programs (a test load failed)".into())
                        }
                        _ => {
                            let target = ProbeTarget::Kernel { function: name };
                            probes(&programs, index, &target, "kprobe")
                        }
                    }
                }
                Function::User { path, offset, .. } => {
                    let target = ProbeTarget::User {
                        path,
                        offset: *offset,
                        pid,
                    };
                    probes(&programs, index, &target, "uprobe")
                }
            };
            match attached {
                Ok((hook, links)) => {
                    if self.tool.args.verbose {
                        eprintln!("{name}: {}: {hook}", function.name());
                    }
                    copies.extend(links);
                }
                Err(why) => failures.push((function.name(), why)),
            }
        }
        // Functions of a glob that cannot be traced are said; when none can, the first.
        if copies.is_empty() {
            let (function, why) = failures.swap_remove(0);
            return Err(ToolError::Usage(format!("cannot trace {function}: {why}")));
        }
        for (function, why) in failures {
            eprintln!("{name}: cannot trace {function}: {why}");
        }
        Ok(Tracing {
            loaded: self,
            attached: Attached::default(),
            copies,
        })
    }
}

/// Copy `index` of the kprobe and kretprobe programs on `target`.
fn probes(
    programs: &ModulePrograms,
    index: u32,
    target: &ProbeTarget<'_>,
    hook: &'static str,
) -> Result<(&'static str, [CopyLink; 2]), String> {
    let attach = |program| {
        programs
            .attach_probe_copy(program, index, target)
            .map_err(|e| e.to_string())
    };
    let entry = attach("func_kprobe")?;
    let exit = attach("func_kretprobe")?;
    Ok((hook, [CopyLink::Probe(entry), CopyLink::Probe(exit)]))
}
