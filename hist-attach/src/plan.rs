//! Attach plans: "does my kernel have the hook I want?", answered per operation of a tool.
//!
//! A tool describes each operation it traces as an [`OpSpec`]: the kernel functions whose entry
//! and exit it times (alternatives in order of preference), the module that provides them, and
//! the tracepoints that can stand in for them. [`Plan::resolve`] checks every candidate hook
//! against [`KernelFacts`] (the running kernel from [`KernelFacts::probe`], or a fixture tree)
//! in the order fentry/fexit → kprobe/kretprobe → `tp_btf` → tracepoint, keeps the ones that can
//! work and the reason of each one that cannot, and [`Plan::attach`] loads and attaches the first
//! that works, falling back to the next when the kernel still refuses it. When no hook works
//! for an operation, [`PlanError`] says so in one self-contained line per operation: what was
//! tried, why it failed, and what to do.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut ebpf: aya::Ebpf = unimplemented!();
//! use hist_attach::plan::{Hook, KernelFacts, OpSpec, Plan};
//!
//! const OPS: &[OpSpec] = &[OpSpec {
//!     name: "open",
//!     program: "open", // programs open_fentry, open_fexit, open_kprobe, open_kretprobe
//!     functions: &["nfs4_file_open", "nfs_file_open"],
//!     module: Some("nfs"),
//!     tracepoints: &[],
//! }];
//! let force: Option<Hook> = None; // from `--attach fentry|kprobe|tp_btf|tracepoint`
//! let facts = KernelFacts::probe()?;
//! let plan = Plan::resolve("nfsdist", OPS, &facts, force)?;
//! # let object: &[u8] = &[];
//! // The object `ebpf` was loaded from (fentry on module functions loads its programs again).
//! let attached = plan.attach(&mut ebpf, object, true)?; // -v: "nfsdist: open: kprobe on nfs4_file_open [nfsv4]"
//! // Keep `attached` as long as the probes should run: it holds the module fentry links.
//! # Ok(()) }
//! ```
//!
//! # What each hook needs (as bcc and libbpf-tools check it)
//!
//! * **fentry/fexit**: vmlinux BTF; a trivial fentry program loads
//!   ([`kernel::fentry_supported`](crate::kernel::fentry_supported)); the function is a BTF
//!   `FUNC`; and, because the kernel finds the attach address with `kallsyms_lookup_name`, the
//!   function is in `/proc/kallsyms` under exactly that name (not only as a compiler clone such as
//!   `finish_task_switch.isra.0`). A function of vmlinux is attached with aya's `FEntry`; one
//!   whose `FUNC` is in a module's BTF (`nfs_file_read`, BTF module `nfs`; Linux 5.11+), which
//!   aya 0.14 cannot attach to, through [`ModulePrograms`](crate::kernel::ModulePrograms).
//! * **kprobe/kretprobe**: the kernel can create kprobes
//!   ([`kernel::kprobes_supported`](crate::kernel::kprobes_supported)) and the function is a
//!   text symbol (`t`/`T`/`w`/`W`) in `/proc/kallsyms`, plain or as a compiler variant
//!   (`.isra.N`, `.constprop.N`, `.part.N`: the kprobe goes on the variant's full name), never a
//!   `.cold` fragment, possibly in a module (`\t[nfs]`). `available_filter_functions` and the
//!   kprobe blacklist are not consulted (the former is not readable everywhere): a kprobe the
//!   kernel refuses anyway fails at [`Plan::attach`], which falls back to the next hook.
//! * **`tp_btf`**: vmlinux BTF; a trivial `tp_btf` program on `sched_switch` loads (the same
//!   probe libbpf-tools' `probe_tp_btf` makes: aya's `is_program_supported(ProgramType::Tracing)`
//!   loads an *fentry* program, which some kernels refuse while they accept `tp_btf`); and the
//!   typedef `btf_trace_<event>` of every tracepoint is in vmlinux BTF (a module's tracepoint has
//!   it in the module's BTF, which aya 0.14's `BtfTracePoint::load` cannot use either).
//! * **tracepoint**: a tracefs ([`KernelFacts::probe`] mounts one when none is, as
//!   [`kernel::ensure_tracefs`](crate::kernel::ensure_tracefs) does) with
//!   `events/<category>/<event>/` for every tracepoint.
//!
//! # Errors, as tools print them
//!
//! One line per operation that cannot be traced, each naming the tool and the operation, then
//! every hook tried with why it failed and, where there is something to do, what to do:
//!
//! ```text
//! nfsdist: cannot trace read: fentry: nfs_file_read is not in any BTF: the nfs module is not loaded (mount an NFS share or `modprobe nfs`); kprobe: this kernel has no kprobes (CONFIG_KPROBES is off)
//! nfsdist: cannot trace read: fentry: this kernel refuses fentry programs (a test load failed); kprobe: nfs_file_read is in /proc/kallsyms only as nfs_file_read.cold, which is not its entry (it is inlined into its callers)
//! cpudist: cannot trace sched_switch: --attach kprobe: this tool has no kprobe hook for sched_switch (it has tp_btf, tracepoint); without --attach: tp_btf on sched_switch
//! ```
//!
//! # Alternatives
//!
//! For each hook the *first alternative function that exists* for that hook is the candidate:
//! in BTF for fentry, in `/proc/kallsyms` (as an attachable symbol) for kprobe. A later
//! alternative is never used when an earlier one exists but cannot be hooked: `nfs4_file_open`
//! and `nfs_file_open` are not interchangeable (NFSv4 opens go through the first only), the second
//! is what NFSv3-only kernels have.

use std::fmt;

mod attach;
mod facts;

pub use attach::Attached;
pub use facts::KernelFacts;
/// An op's table entry lives in hist-core, so that a tool's `no_std` common crate can hold it.
pub use hist_core::names::{OpSpec, TracepointRole};

/// The kinds of hook, in the order a plan prefers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Hook {
    /// fentry/fexit programs on a kernel function (BPF trampolines, vmlinux BTF).
    Fentry,
    /// kprobe/kretprobe programs on a kernel function.
    Kprobe,
    /// BTF-enabled raw tracepoints (`tp_btf`).
    #[cfg_attr(feature = "clap", value(name = "tp_btf"))]
    TpBtf,
    /// Tracepoints through tracefs.
    Tracepoint,
}

impl Hook {
    /// Every hook, in the order a plan prefers them.
    pub const ALL: [Hook; 4] = [Hook::Fentry, Hook::Kprobe, Hook::TpBtf, Hook::Tracepoint];

    /// The name `--attach` takes and messages use: `fentry`, `kprobe`, `tp_btf`, `tracepoint`.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Fentry => "fentry",
            Hook::Kprobe => "kprobe",
            Hook::TpBtf => "tp_btf",
            Hook::Tracepoint => "tracepoint",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `spec` has candidates of kind `hook` at all.
fn offers(spec: &OpSpec, hook: Hook) -> bool {
    match hook {
        Hook::Fentry | Hook::Kprobe => !spec.functions.is_empty(),
        Hook::TpBtf | Hook::Tracepoint => !spec.tracepoints.is_empty(),
    }
}

/// A hook picked for an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The operation ([`OpSpec::name`]).
    pub op: &'static str,
    /// The kind of hook.
    pub hook: Hook,
    /// What it attaches to: a function for fentry (`do_sys_openat2`), a kallsyms symbol and its
    /// module for kprobe (`nfs_file_read [nfs]`, `finish_task_switch.isra.0`), events for
    /// tp_btf (`sched_switch`) and tracepoints (`sched:sched_switch`); several are joined with
    /// `", "`.
    pub target: String,
}

impl fmt::Display for Choice {
    /// `read: kprobe on nfs_file_read [nfs]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} on {}", self.op, self.hook, self.target)
    }
}

/// A candidate hook that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The operation ([`OpSpec::name`]).
    pub op: &'static str,
    /// The kind of hook.
    pub hook: Hook,
    /// Why, on one line, ending with what to do when there is something to do.
    pub reason: String,
}

/// Why one operation cannot be traced: every hook tried and why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpFailure {
    /// The operation ([`OpSpec::name`]).
    pub op: &'static str,
    /// The hook `--attach` forced, if any.
    pub forced: Option<Hook>,
    /// Each hook tried, in plan order, with why it failed.
    pub tried: Vec<(Hook, String)>,
    /// With a forced hook: what the plan would have picked without it.
    pub without_force: Option<Choice>,
}

impl fmt::Display for OpFailure {
    /// `cannot trace read: fentry: …; kprobe: …` (without the tool's name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot trace {}: ", self.op)?;
        if self.tried.is_empty() {
            return f.write_str(
                "the tool gives no kernel function and no tracepoint for it (a bug in the tool)",
            );
        }
        for (i, (hook, reason)) in self.tried.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if self.forced.is_some() {
                f.write_str("--attach ")?;
            }
            write!(f, "{hook}: {reason}")?;
        }
        if let Some(choice) = &self.without_force {
            write!(
                f,
                "; without --attach: {} on {}",
                choice.hook, choice.target
            )?;
        }
        Ok(())
    }
}

/// No usable hook for one or more operations. [`Display`](fmt::Display) gives one line per
/// failing operation, each self-contained (`nfsdist: cannot trace read: fentry: …; kprobe: …`):
/// print it as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    tool: String,
    failures: Vec<OpFailure>,
}

impl PlanError {
    /// The tool's name, which starts every line.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The failing operations, in the tool's order.
    pub fn failures(&self) -> &[OpFailure] {
        &self.failures
    }

    /// The lines of the message, one per failing operation.
    pub fn lines(&self) -> Vec<String> {
        self.failures
            .iter()
            .map(|failure| format!("{}: {failure}", self.tool))
            .collect()
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for PlanError {}

/// What a viable candidate attaches to.
#[derive(Clone, Debug)]
enum Target {
    /// A kernel function: fentry/fexit on `function`, kprobe/kretprobe on `symbol`.
    Function {
        function: &'static str,
        symbol: String,
        /// The module of `symbol` in kallsyms; for fentry, the module whose BTF has `function`.
        module: Option<String>,
    },
    /// All of the op's tracepoints.
    Tracepoints,
}

#[derive(Clone, Debug)]
struct Candidate {
    hook: Hook,
    target: Target,
}

#[derive(Clone, Debug)]
struct OpPlan {
    spec: OpSpec,
    viable: Vec<Candidate>,
    rejected: Vec<(Hook, String)>,
}

impl OpPlan {
    fn choice(&self, candidate: &Candidate) -> Choice {
        Choice {
            op: self.spec.name,
            hook: candidate.hook,
            target: target_text(&self.spec, candidate),
        }
    }
}

fn target_text(spec: &OpSpec, candidate: &Candidate) -> String {
    match (&candidate.target, candidate.hook) {
        (
            Target::Function {
                function, module, ..
            },
            Hook::Fentry,
        ) => match module {
            Some(module) => format!("{function} [{module}]"),
            None => (*function).to_owned(),
        },
        (Target::Function { symbol, module, .. }, _) => match module {
            Some(module) => format!("{symbol} [{module}]"),
            None => symbol.clone(),
        },
        (Target::Tracepoints, Hook::TpBtf) => join(spec.tracepoints.iter().map(|t| t.2.to_owned())),
        (Target::Tracepoints, _) => join(
            spec.tracepoints
                .iter()
                .map(|(_, cat, event)| format!("{cat}:{event}")),
        ),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Per operation of a tool: the hooks that can work on this kernel, in order, and why the others
/// cannot.
#[derive(Clone, Debug)]
pub struct Plan {
    tool: String,
    force: Option<Hook>,
    ops: Vec<OpPlan>,
}

impl Plan {
    /// Checks every candidate of every operation of `ops` against `facts` (see the
    /// [module documentation](self) for what each hook needs). `force` (from `--attach`) keeps
    /// only that kind of hook.
    ///
    /// # Errors
    ///
    /// [`PlanError`] when an operation has no viable candidate, naming every such operation.
    pub fn resolve(
        tool: &str,
        ops: &[OpSpec],
        facts: &KernelFacts,
        force: Option<Hook>,
    ) -> Result<Plan, PlanError> {
        let plans: Vec<OpPlan> = ops.iter().map(|op| resolve_op(op, facts, force)).collect();
        let failures: Vec<OpFailure> = plans
            .iter()
            .filter(|plan| plan.viable.is_empty())
            .map(|plan| OpFailure {
                op: plan.spec.name,
                forced: force,
                tried: plan.rejected.clone(),
                without_force: force.and_then(|_| {
                    let free = resolve_op(&plan.spec, facts, None);
                    free.viable.first().map(|c| free.choice(c))
                }),
            })
            .collect();
        if !failures.is_empty() {
            return Err(PlanError {
                tool: tool.to_owned(),
                failures,
            });
        }
        Ok(Plan {
            tool: tool.to_owned(),
            force,
            ops: plans,
        })
    }

    /// The tool's name given to [`resolve`](Self::resolve).
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The hook `--attach` forced, if any.
    pub fn force(&self) -> Option<Hook> {
        self.force
    }

    /// What is picked per op (its first viable candidate), in the tool's order: what
    /// [`attach`](Self::attach) tries first.
    pub fn choices(&self) -> Vec<Choice> {
        self.ops
            .iter()
            .filter_map(|op| op.viable.first().map(|c| op.choice(c)))
            .collect()
    }

    /// Every viable candidate of every op, in the order [`attach`](Self::attach) tries them.
    pub fn viable(&self) -> Vec<Choice> {
        self.ops
            .iter()
            .flat_map(|op| op.viable.iter().map(|c| op.choice(c)))
            .collect()
    }

    /// Every rejected candidate of every op, with its reason.
    pub fn rejected(&self) -> Vec<Rejection> {
        self.ops
            .iter()
            .flat_map(|op| {
                op.rejected.iter().map(|(hook, reason)| Rejection {
                    op: op.spec.name,
                    hook: *hook,
                    reason: reason.clone(),
                })
            })
            .collect()
    }
}

/// The viable candidates of one op and the reasons of the rejected ones.
fn resolve_op(spec: &OpSpec, facts: &KernelFacts, force: Option<Hook>) -> OpPlan {
    let mut plan = OpPlan {
        spec: *spec,
        viable: Vec::new(),
        rejected: Vec::new(),
    };
    for hook in Hook::ALL {
        if force.is_some_and(|forced| forced != hook) {
            continue;
        }
        if !offers(spec, hook) {
            if force.is_some() {
                let offered: Vec<&str> = Hook::ALL
                    .iter()
                    .filter(|h| offers(spec, **h))
                    .map(|h| h.name())
                    .collect();
                let reason = if offered.is_empty() {
                    format!("this tool has no {hook} hook for {}", spec.name)
                } else {
                    format!(
                        "this tool has no {hook} hook for {} (it has {})",
                        spec.name,
                        offered.join(", ")
                    )
                };
                plan.rejected.push((hook, reason));
            }
            continue;
        }
        let target = match hook {
            Hook::Fentry => check_fentry(spec, facts),
            Hook::Kprobe => check_kprobe(spec, facts),
            Hook::TpBtf => check_tp_btf(spec, facts),
            Hook::Tracepoint => check_tracepoint(spec, facts),
        };
        match target {
            Ok(target) => plan.viable.push(Candidate { hook, target }),
            Err(reason) => plan.rejected.push((hook, reason)),
        }
    }
    plan
}

/// `"a is not in {place}"`, `"neither a nor b is in {place}"`, `"none of a, b, c is in {place}"`.
fn not_in(names: &[&str], place: &str) -> String {
    match names {
        [one] => format!("{one} is not in {place}"),
        [a, b] => format!("neither {a} nor {b} is in {place}"),
        more => format!("none of {} is in {place}", more.join(", ")),
    }
}

/// `"it"`, or `"them"` for several names.
fn it(names: &[&str]) -> &'static str {
    if names.len() > 1 { "them" } else { "it" }
}

/// What to do to get the module `module` loaded.
fn load_module_hint(module: &str) -> String {
    match module {
        "nfs" | "nfsv3" | "nfsv4" => format!("mount an NFS share or `modprobe {module}`"),
        "xfs" => "mount an XFS file system or `modprobe xfs`".to_owned(),
        _ => format!("`modprobe {module}`"),
    }
}

/// `": the nfs module is not loaded (mount an NFS share or `modprobe nfs`)"` when the op's
/// module is not loaded, else `" ({otherwise})"`.
fn absent_hint(spec: &OpSpec, facts: &KernelFacts, otherwise: &str) -> String {
    match spec.module {
        Some(module) if !facts.module_loaded(module) => format!(
            ": the {module} module is not loaded ({})",
            load_module_hint(module)
        ),
        _ => format!(" ({otherwise})"),
    }
}

fn check_fentry(spec: &OpSpec, facts: &KernelFacts) -> Result<Target, String> {
    let btf = facts.btf_result()?;
    facts.fentry_result()?;
    for &function in spec.functions {
        let btf_module = match btf.func_owner(function) {
            Err(error) => return Err(error.to_string()),
            Ok(None) => continue,
            Ok(Some("vmlinux")) => None,
            Ok(Some(owner)) => Some(owner.to_owned()),
        };
        // The kernel resolves the attach address by this exact name (kallsyms_lookup_name).
        let symbols = facts.symbols(function);
        if let Some(plain) = symbols.iter().find(|s| s.suffix.is_empty()) {
            return Ok(Target::Function {
                function,
                symbol: plain.name.clone(),
                module: btf_module,
            });
        }
        return Err(if symbols.is_empty() {
            format!(
                "{function} is in BTF but not in /proc/kallsyms, so fentry has no address to \
                 attach to"
            )
        } else {
            let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
            format!(
                "{function} is in BTF but its code is {} in /proc/kallsyms, which fentry cannot \
                 attach to",
                names.join(" and ")
            )
        });
    }
    // In no BTF. A module that is loaded but has no BTF says why.
    for &function in spec.functions {
        for symbol in facts.symbols(function) {
            if let Some(module) = &symbol.module
                && !facts.module_has_btf(module)
            {
                return Err(format!(
                    "{function} is in the {module} module, which has no BTF \
                     (needs CONFIG_DEBUG_INFO_BTF_MODULES=y)"
                ));
            }
        }
    }
    let in_kallsyms = spec.functions.iter().any(|f| !facts.symbols(f).is_empty());
    let otherwise = if in_kallsyms {
        format!("this kernel's BTF does not describe {}", it(spec.functions))
    } else {
        format!("this kernel does not have {}", it(spec.functions))
    };
    Err(format!(
        "{}{}",
        not_in(spec.functions, "any BTF"),
        absent_hint(spec, facts, &otherwise)
    ))
}

fn check_kprobe(spec: &OpSpec, facts: &KernelFacts) -> Result<Target, String> {
    if !facts.kprobes() {
        return Err(facts::NO_KPROBES.to_owned());
    }
    let mut found = Vec::new();
    for &function in spec.functions {
        let symbols = facts.symbols(function);
        if let Some(symbol) = crate::kernel::pick_attachable(&symbols) {
            return Ok(Target::Function {
                function,
                symbol: symbol.name.clone(),
                module: symbol.module.clone(),
            });
        }
        found.push((function, symbols));
    }
    let otherwise = format!("this kernel does not have {}", it(spec.functions));
    let hint = absent_hint(spec, facts, &otherwise);
    if found.iter().all(|(_, symbols)| symbols.is_empty()) {
        return Err(format!(
            "{}{hint}",
            not_in(spec.functions, "/proc/kallsyms")
        ));
    }
    // Some are there only as `.cold` fragments.
    let parts: Vec<String> = found
        .iter()
        .map(|(function, symbols)| {
            if symbols.is_empty() {
                format!("{function} is not in /proc/kallsyms")
            } else {
                let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
                format!(
                    "{function} is in /proc/kallsyms only as {}, which is not its entry \
                     (it is inlined into its callers)",
                    names.join(" and ")
                )
            }
        })
        .collect();
    Err(parts.join(", and "))
}

fn check_tp_btf(spec: &OpSpec, facts: &KernelFacts) -> Result<Target, String> {
    let btf = facts.btf_result()?;
    facts.tp_btf_result()?;
    for (_, _, event) in spec.tracepoints {
        let typedef = format!("btf_trace_{event}");
        match btf.typedef_owner(&typedef) {
            Err(error) => return Err(error.to_string()),
            Ok(Some("vmlinux")) => {}
            Ok(Some(owner)) => {
                return Err(format!(
                    "{typedef} is in module BTF ({owner}), which aya 0.14 cannot attach tp_btf to"
                ));
            }
            Ok(None) => {
                let otherwise = format!("this kernel has no tracepoint {event}");
                return Err(format!(
                    "{typedef} is not in any BTF{}",
                    absent_hint(spec, facts, &otherwise)
                ));
            }
        }
    }
    Ok(Target::Tracepoints)
}

fn check_tracepoint(spec: &OpSpec, facts: &KernelFacts) -> Result<Target, String> {
    let events = facts.tracefs_result()?.join("events");
    for (_, category, event) in spec.tracepoints {
        if !facts::tracepoint_dir_exists(&events, category, event)? {
            return Err(format!(
                "{category}:{event} is not in tracefs{}",
                absent_hint(spec, facts, "this kernel has no such tracepoint")
            ));
        }
    }
    Ok(Target::Tracepoints)
}
