//! The reference tools the bcc family is checked against, side by side in the same run:
//! libbpf-tools (Debian's package, installed by `cargo xtask setup` for the tests), and reading
//! the histograms both print.

use std::{
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, ChildStdout, Command, Stdio},
};

/// A libbpf-tools tool, attached and tracing until [`finish`](Self::finish).
pub(crate) struct Reference {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Reference {
    /// Starts `/usr/sbin/<tool> args` and waits for its banner: it is attached then. Its stdout
    /// is block-buffered into a pipe, so it runs under `stdbuf -oL`. When it exits instead,
    /// what it printed.
    pub(crate) fn start(tool: &str, args: &[&str]) -> Result<Self, String> {
        let path = format!("/usr/sbin/{tool}");
        assert!(
            std::path::Path::new(&path).is_file(),
            "{path} is missing: install libbpf-tools (cargo xtask setup does, for the tests)"
        );
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the reference tool");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).unwrap();
        if !banner.starts_with("Tracing") {
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            let _ = child.wait();
            return Err(format!("{tool} {args:?} did not start: {banner}{stderr}"));
        }
        Ok(Self { child, stdout })
    }

    /// Ctrl-C, then everything it printed after its banner.
    pub(crate) fn finish(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut output = String::new();
        self.stdout.read_to_string(&mut output).unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the reference tool failed ({status}): {output}"
        );
        output
    }
}

impl Drop for Reference {
    /// A test that fails before [`finish`](Reference::finish) must not leave the tool tracing
    /// (it would load every later event of the run); after `finish`, nothing is left to stop.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A printed log2 histogram: `(low, count)` of each row.
pub(crate) type Rows = Vec<(u64, u64)>;

/// Every histogram of a bcc-style printout, with the value of the section line above it
/// (`disk = loop3` → `loop3`; `""` when there is none): bcc's and libbpf-tools' rows alike,
/// `   low -> high   : count   |***|`.
pub(crate) fn histograms(output: &str) -> Vec<(String, Rows)> {
    let mut all: Vec<(String, Rows)> = Vec::new();
    let mut section = String::new();
    let mut in_rows = false;
    for line in output.lines() {
        let row = line.split_once(" : ").and_then(|(range, rest)| {
            let low = range.split_once("->")?.0.trim().parse().ok()?;
            let count = rest.split_whitespace().next()?.trim_end_matches('|');
            Some((low, count.parse().ok()?))
        });
        match row {
            Some(row) => {
                if !in_rows {
                    all.push((section.clone(), Vec::new()));
                    in_rows = true;
                }
                all.last_mut().unwrap().1.push(row);
            }
            None => {
                in_rows = false;
                if let Some((_, value)) = line.split_once(" = ") {
                    section = value.trim().to_owned();
                }
            }
        }
    }
    all
}

/// The histogram of section `name`, panicking with the output when there is none.
pub(crate) fn section<'a>(all: &'a [(String, Rows)], name: &str, output: &str) -> &'a Rows {
    let found = all.iter().find(|(section, _)| section == name);
    &found
        .unwrap_or_else(|| panic!("no section {name:?} in:\n{output}"))
        .1
}

/// The events a histogram counted.
pub(crate) fn total(rows: &Rows) -> u64 {
    rows.iter().map(|(_, count)| count).sum()
}

/// Whether two histograms of the same events, timed by two tools, have the same shape within a
/// bucket: each one's count up to any row is at least the other's up to the row below (an event
/// near a bucket's edge may land on either side of it), but for 2 % of the events (at least
/// one): the two tools' programs run one after the other at each hook, and an interrupt or, in
/// a VM, the host taking the CPU between them can stretch one tool's time of an event by tens
/// of microseconds.
pub(crate) fn same_shape_within_a_bucket(a: &Rows, b: &Rows) -> bool {
    let upto = |rows: &Rows, low: u64| -> u64 {
        rows.iter().filter(|(l, _)| *l <= low).map(|(_, c)| c).sum()
    };
    let slack = (total(a).max(total(b)) / 50).max(1);
    let mut lows: Vec<u64> = a.iter().chain(b).map(|(low, _)| *low).collect();
    lows.sort_unstable();
    lows.dedup();
    lows.windows(2).all(|pair| {
        let (below, low) = (pair[0], pair[1]);
        upto(a, low) + slack >= upto(b, below) && upto(b, low) + slack >= upto(a, below)
    })
}

/// Whether two tools' timings of the same calls of one function can be held to the same shape
/// within a bucket: always on real hardware; under software emulation (the VM stage:
/// [`time_scale`](super::time_scale) above 1) only when the calls take at least `floor` (in
/// the histograms' unit) at the median. Both tools' programs are on the function's entry and
/// exit, so each one's time includes one of the other's programs, which emulated take
/// microseconds: calls of a few microseconds move by a bucket or two, their counts not at all.
pub(crate) fn shapes_comparable(a: &Rows, b: &Rows, floor: u64) -> bool {
    let median = |rows: &Rows| {
        let half = total(rows).div_ceil(2);
        let mut seen = 0;
        rows.iter()
            .find(|(_, count)| {
                seen += count;
                seen >= half
            })
            .map_or(0, |(low, _)| *low)
    };
    super::time_scale() == 1 || median(a).min(median(b)) >= floor
}
