//! The workload child of the live tests, and attaching a test probe.
// Each test file uses a part of this module.
#![allow(dead_code)]

pub mod prometheus;

use std::{
    io::Write as _,
    process::{Child, ChildStdin, Command, Stdio},
};

/// The release binary of the example tool `name`, from `HIST_TOOLS_DIR` (set by `cargo xtask
/// test`).
pub fn tool_bin(name: &str) -> String {
    let dir = std::env::var("HIST_TOOLS_DIR").unwrap_or_else(|_| {
        panic!(
            "set HIST_TOOLS_DIR to the folder of the tools' release builds (cargo xtask test does)"
        )
    });
    format!("{dir}/{name}")
}

/// A child running the `workload` binary, stopped until [`Workload::start`].
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Workload {
    /// Spawns `workload <args>`; it waits on stdin before doing anything measurable.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_workload"))
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn workload");
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    /// The child's pid (its tgid).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the child run its pattern.
    pub fn start(&mut self) {
        let mut stdin = self.stdin.take().expect("started once");
        stdin.write_all(b"go\n").expect("start workload");
    }

    /// Lets the child run its pattern, and waits for it to finish.
    pub fn run_to_end(mut self) {
        self.start();
        let status = self.child.wait().expect("wait workload");
        assert!(status.success(), "workload failed: {status}");
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads `program` of `ebpf` and attaches it to the tracepoint `category:name`, mounting tracefs
/// first when it is missing (this kernel does not mount it at boot).
pub fn attach_tracepoint(ebpf: &mut aya::Ebpf, program: &str, category: &str, name: &str) {
    hist_user::kernel::ensure_tracefs().expect("tracefs");
    let tracepoint: &mut aya::programs::TracePoint = ebpf
        .program_mut(program)
        .unwrap_or_else(|| panic!("no program {program}"))
        .try_into()
        .unwrap();
    tracepoint
        .load()
        .unwrap_or_else(|e| panic!("verifier rejected {program}: {e:?}"));
    tracepoint
        .attach(category, name)
        .unwrap_or_else(|e| panic!("attach {program} to {category}:{name}: {e:?}"));
}
