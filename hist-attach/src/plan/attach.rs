//! Loading and attaching a plan's programs with aya 0.14, falling back candidate by candidate.

use aya::{
    Btf, Ebpf,
    programs::{
        BtfTracePoint, FEntry, FExit, KProbe, ProbeKind, Program, ProgramError, TracePoint,
    },
};

use hist_core::names::ProgramSuffix;

use super::{Candidate, Choice, Hook, OpFailure, OpPlan, Plan, PlanError, Target};
use crate::kernel::{self, ModuleFunction, ModulePrograms, ModuleTracingLink, error_line};

/// What [`Plan::attach`] attached: the choice per op, and the links of fentry/fexit programs on
/// module functions, which live outside the [`Ebpf`] (aya 0.14 cannot load them): they stay
/// attached as long as this value lives.
#[derive(Debug, Default)]
pub struct Attached {
    /// Per op, in the tool's order.
    pub choices: Vec<Choice>,
    module_links: Vec<ModuleTracingLink>,
}

impl Attached {
    /// The fentry/fexit links on module functions (their program and link fds).
    pub fn module_links(&self) -> &[ModuleTracingLink] {
        &self.module_links
    }
}

/// What the candidates of one [`Plan::attach`] share: aya's parse of vmlinux BTF and the
/// object's programs for module functions, each made once when first needed.
struct Loader<'a> {
    object: &'a [u8],
    btf: Option<Result<Btf, String>>,
    module_programs: Option<Result<ModulePrograms, String>>,
    module_links: Vec<ModuleTracingLink>,
}

impl Plan {
    /// Loads and attaches the chosen programs of every op into `ebpf`, which was loaded from
    /// `object`: for fentry `{program}_fentry` and `{program}_fexit` (`FEntry`/`FExit::load(function,
    /// &btf)`, or [`ModulePrograms`] for a function of a module, which loads them from `object`
    /// onto the maps of `ebpf`: call this before taking maps out of `ebpf`), for
    /// kprobe `{program}_kprobe` and `{program}_kretprobe` (`KProbe::load`, then
    /// `attach(symbol, 0)`), for `tp_btf` each `{stem}_btf` (`BtfTracePoint::load(event, &btf)`),
    /// for tracepoints each `{stem}_tp` (`TracePoint::attach(category, event)`, after
    /// [`kernel::ensure_tracefs`]).
    ///
    /// When loading or attaching a candidate fails, the programs it loaded are unloaded (which
    /// detaches them) and the op's next viable candidate is tried; the reason is kept. With
    /// `verbose`, prints one line per attached op to stderr: `{tool}: {op}: {hook} on {target}`.
    ///
    /// Returns what was attached, per op in the tool's order; keep it while tracing.
    ///
    /// # Errors
    ///
    /// [`PlanError`] naming every op whose candidates all failed, with the reasons of the
    /// candidates rejected by [`resolve`](Self::resolve) and of those that failed here. The ops
    /// that did attach stay attached until `ebpf` is dropped.
    pub fn attach(
        &self,
        ebpf: &mut Ebpf,
        object: &[u8],
        verbose: bool,
    ) -> Result<Attached, PlanError> {
        let mut loader = Loader {
            object,
            btf: None,
            module_programs: None,
            module_links: Vec::new(),
        };
        let mut attached = Vec::new();
        let mut failures = Vec::new();
        for op in &self.ops {
            let mut tried = op.rejected.clone();
            let mut done = None;
            for candidate in &op.viable {
                match attach_candidate(ebpf, op, candidate, &mut loader) {
                    Ok(()) => {
                        done = Some(op.choice(candidate));
                        break;
                    }
                    Err(reason) => tried.push((candidate.hook, reason)),
                }
            }
            match done {
                Some(choice) => {
                    if verbose {
                        eprintln!("{}: {choice}", self.tool);
                    }
                    attached.push(choice);
                }
                None => {
                    // Stable: a hook keeps its place in plan order.
                    tried.sort_by_key(|(hook, _)| *hook);
                    failures.push(OpFailure {
                        op: op.spec.name,
                        forced: self.force,
                        tried,
                        without_force: None,
                    });
                }
            }
        }
        if failures.is_empty() {
            Ok(Attached {
                choices: attached,
                module_links: loader.module_links,
            })
        } else {
            Err(PlanError {
                tool: self.tool.clone(),
                failures,
            })
        }
    }
}

/// The program names a candidate loads, in load order.
fn program_names(op: &OpPlan, hook: Hook) -> Vec<String> {
    let stem = op.spec.program;
    // `{program}{role}{hook}`: `read_fentry`, `scan_start_btf`.
    let named = |role: &str, hook: ProgramSuffix| format!("{stem}{role}{}", hook.as_str());
    let tracepoints = |hook| {
        let roles = op.spec.tracepoints.iter();
        roles
            .map(|(role, _, _)| named(role.stem_suffix(), hook))
            .collect()
    };
    match hook {
        Hook::Fentry => vec![
            named("", ProgramSuffix::Fentry),
            named("", ProgramSuffix::Fexit),
        ],
        Hook::Kprobe => vec![
            named("", ProgramSuffix::Kprobe),
            named("", ProgramSuffix::Kretprobe),
        ],
        Hook::TpBtf => tracepoints(ProgramSuffix::TpBtf),
        Hook::Tracepoint => tracepoints(ProgramSuffix::Tracepoint),
    }
}

fn attach_candidate(
    ebpf: &mut Ebpf,
    op: &OpPlan,
    candidate: &Candidate,
    loader: &mut Loader<'_>,
) -> Result<(), String> {
    let names = program_names(op, candidate.hook);
    let btf = &mut loader.btf;
    let result =
        match (candidate.hook, &candidate.target) {
            (
                Hook::Fentry,
                Target::Function {
                    function,
                    module: Some(module),
                    ..
                },
            ) => return attach_module_fentry(ebpf, &names, function, module, loader),
            (Hook::Fentry, Target::Function { function, .. }) => {
                attach_fentry(ebpf, &names[0], function, btf, false)
                    .and_then(|()| attach_fentry(ebpf, &names[1], function, btf, true))
            }
            (Hook::Kprobe, Target::Function { symbol, .. }) => {
                attach_kprobe(ebpf, &names[0], ProbeKind::Entry, symbol)
                    .and_then(|()| attach_kprobe(ebpf, &names[1], ProbeKind::Return, symbol))
            }
            (Hook::TpBtf, _) => op
                .spec
                .tracepoints
                .iter()
                .zip(&names)
                .try_for_each(|((_, _, event), name)| attach_tp_btf(ebpf, name, event, btf)),
            (Hook::Tracepoint, _) => op.spec.tracepoints.iter().zip(&names).try_for_each(
                |((_, category, event), name)| attach_tracepoint(ebpf, name, category, event),
            ),
            (hook, Target::Tracepoints) => Err(format!(
                "no function to attach {hook} to (a bug in hist-attach: please report this)"
            )),
        };
    if result.is_err() {
        for name in &names {
            unload(ebpf, name);
        }
    }
    result
}

/// aya's parse of `/sys/kernel/btf/vmlinux`, read once per [`Plan::attach`].
fn aya_btf(btf: &mut Option<Result<Btf, String>>) -> Result<&Btf, String> {
    btf.get_or_insert_with(|| {
        Btf::from_sys_fs().map_err(|e| {
            format!(
                "aya cannot read /sys/kernel/btf/vmlinux: {}",
                error_line(&e)
            )
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The program `name` of `ebpf` as a `T`, or why not.
fn typed_program<'a, T>(ebpf: &'a mut Ebpf, name: &str, kind: &str) -> Result<&'a mut T, String>
where
    &'a mut T: TryFrom<&'a mut Program>,
{
    if ebpf.program(name).is_none() {
        let mut programs: Vec<&str> = ebpf.programs().map(|(name, _)| name).collect();
        programs.sort_unstable();
        let has = match programs.is_empty() {
            true => String::new(),
            false => format!(" (it has {})", programs.join(", ")),
        };
        return Err(format!(
            "the eBPF object has no program {name}{has} (a bug in the tool: please report this)"
        ));
    }
    let program = ebpf.program_mut(name).expect("just found");
    <&mut T>::try_from(program).map_err(|_| {
        format!("program {name} is not a {kind} program (a bug in the tool: please report this)")
    })
}

fn attach_fentry(
    ebpf: &mut Ebpf,
    name: &str,
    function: &str,
    btf: &mut Option<Result<Btf, String>>,
    exit: bool,
) -> Result<(), String> {
    let load_error = |e: ProgramError| kernel::fentry_load_error(function, &e).to_string();
    if exit {
        let program: &mut FExit = typed_program(ebpf, name, "fexit")?;
        program.load(function, aya_btf(btf)?).map_err(load_error)?;
        program.attach().map(drop)
    } else {
        let program: &mut FEntry = typed_program(ebpf, name, "fentry")?;
        program.load(function, aya_btf(btf)?).map_err(load_error)?;
        program.attach().map(drop)
    }
    .map_err(|e| attach_error(name, function, &e))
}

/// fentry and fexit (`names`) on `function` of `module` through [`ModulePrograms`]; when the
/// second fails, the first is detached again (its link dropped).
fn attach_module_fentry(
    ebpf: &Ebpf,
    names: &[String],
    function: &str,
    module: &str,
    loader: &mut Loader<'_>,
) -> Result<(), String> {
    let object = loader.object;
    let programs = loader
        .module_programs
        .get_or_insert_with(|| ModulePrograms::new(object, ebpf).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)?;
    let target = ModuleFunction::find(module, function).map_err(|e| e.to_string())?;
    let links = names
        .iter()
        .map(|name| programs.attach(name, &target))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    loader.module_links.extend(links);
    Ok(())
}

fn attach_kprobe(ebpf: &mut Ebpf, name: &str, kind: ProbeKind, symbol: &str) -> Result<(), String> {
    let wanted = match kind {
        ProbeKind::Entry => "kprobe",
        ProbeKind::Return => "kretprobe",
    };
    let program: &mut KProbe = typed_program(ebpf, name, wanted)?;
    let same_kind = matches!(
        (program.kind(), kind),
        (ProbeKind::Entry, ProbeKind::Entry) | (ProbeKind::Return, ProbeKind::Return)
    );
    if !same_kind {
        return Err(format!(
            "program {name} is not a {wanted} program (a bug in the tool: please report this)"
        ));
    }
    program.load().map_err(|e| load_error(name, &e))?;
    program
        .attach(symbol, 0)
        .map_err(|e| attach_error(name, symbol, &e))?;
    Ok(())
}

fn attach_tp_btf(
    ebpf: &mut Ebpf,
    name: &str,
    event: &str,
    btf: &mut Option<Result<Btf, String>>,
) -> Result<(), String> {
    let program: &mut BtfTracePoint = typed_program(ebpf, name, "tp_btf")?;
    program
        .load(event, aya_btf(btf)?)
        .map_err(|e| load_error(name, &e))?;
    program
        .attach()
        .map_err(|e| attach_error(name, event, &e))?;
    Ok(())
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    name: &str,
    category: &str,
    event: &str,
) -> Result<(), String> {
    let program: &mut TracePoint = typed_program(ebpf, name, "tracepoint")?;
    program.load().map_err(|e| load_error(name, &e))?;
    // aya 0.14 looks for tracefs once per process: make sure there is one before.
    kernel::ensure_tracefs().map_err(|e| e.to_string())?;
    program
        .attach(category, event)
        .map_err(|e| attach_error(name, &format!("{category}:{event}"), &e))?;
    Ok(())
}

/// Unloads (and so detaches) the program `name` if it is loaded; a program that is not loaded or
/// not there is left alone.
fn unload(ebpf: &mut Ebpf, name: &str) {
    let result = match ebpf.program_mut(name) {
        Some(Program::FEntry(p)) => p.unload(),
        Some(Program::FExit(p)) => p.unload(),
        Some(Program::KProbe(p)) => p.unload(),
        Some(Program::BtfTracePoint(p)) => p.unload(),
        Some(Program::TracePoint(p)) => p.unload(),
        _ => Ok(()),
    };
    // NotLoaded: it failed to load, nothing to undo.
    drop(result);
}

fn load_error(name: &str, error: &ProgramError) -> String {
    let reason = match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let last = log.lines().map(str::trim).rfind(|line| {
                !line.is_empty()
                    && !line.starts_with("processed ")
                    && !line.starts_with("verification time")
                    && !line.starts_with("stack depth")
            });
            match last {
                Some(line) => format!("BPF_PROG_LOAD: {io_error}; the verifier said: {line}"),
                None => format!("BPF_PROG_LOAD: {io_error}"),
            }
        }
        other => error_line(other),
    };
    format!("loading {name} failed: {reason}")
}

fn attach_error(name: &str, target: &str, error: &ProgramError) -> String {
    format!("attaching {name} to {target} failed: {}", error_line(error))
}
