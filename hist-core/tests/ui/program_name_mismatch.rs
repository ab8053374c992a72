//! A program not named by its op's name and hook does not build: the attach plan would not
//! find it.
use hist_core::names::{ProgramSuffix, START_STEM_SUFFIX};

hist_core::ops! {
    pub struct Op {
        READ = 0 => "read",
    }
}

// Right.
hist_core::assert_program_name!(read_fentry, [Op::READ.name()], ProgramSuffix::Fentry);
hist_core::assert_program_name!(read_start_tp, [Op::READ.name(), START_STEM_SUFFIX], ProgramSuffix::Tracepoint);

// Wrong: the op is `read`, the hook kprobe.
hist_core::assert_program_name!(reads_kprobe, [Op::READ.name()], ProgramSuffix::Kprobe);
hist_core::assert_program_name!(read_kprobe, [Op::READ.name()], ProgramSuffix::Kretprobe);

fn main() {}
