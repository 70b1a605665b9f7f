//! Operations on files, applied to the simulator and to the reference model side by side.
//!
//! Operands pick files by index into the live set (`file % live.len()`), so shrinking a
//! failing sequence keeps every remaining operation meaningful. Each operation prints as a
//! `splicelab script` line, so a shrunk failure is a script that replays it.

use std::fmt;

use proptest::prelude::*;
use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

use crate::reference::Reference;

/// Largest offset operations use (small files keep checking fast and collisions likely).
pub const SPAN: u64 = 48 * 1024;

/// One operation of a generated sequence.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Create file number `n` (names are `f0`, `f1`, …).
    Create { n: u8 },
    Pwrite { file: u8, off: u64, len: u64, byte: u8 },
    Pread { file: u8, off: u64, len: u64 },
    Truncate { file: u8, size: u64 },
    Punch { file: u8, off: u64, len: u64 },
    Falloc { file: u8, off: u64, len: u64, keep: bool },
    Fsync { file: u8 },
}

impl Op {
    /// The file-name operand, resolved against the live files.
    fn pick(live: &[String], file: u8) -> Option<&str> {
        (!live.is_empty()).then(|| live[file as usize % live.len()].as_str())
    }

    /// The operation as `splicelab script` lines, given the live files at that point.
    pub fn script(&self, live: &[String]) -> String {
        let f = |file: u8| Self::pick(live, file).unwrap_or("f0").to_string();
        match self {
            Op::Create { n } => format!("open -f f{n}"),
            Op::Pwrite { file, off, len, byte } => {
                format!("open {}\npwrite -S {byte:#04x} {off} {len}", f(*file))
            }
            Op::Pread { file, off, len } => format!("open {}\npread {off} {len}", f(*file)),
            Op::Truncate { file, size } => format!("open {}\ntruncate {size}", f(*file)),
            Op::Punch { file, off, len } => format!("open {}\nfpunch {off} {len}", f(*file)),
            Op::Falloc { file, off, len, keep } => format!(
                "open {}\nfalloc {}{off} {len}",
                f(*file),
                if *keep { "-k " } else { "" }
            ),
            Op::Fsync { file } => format!("open {}\nfsync", f(*file)),
        }
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Create { n } => write!(f, "Create(f{n})"),
            Op::Pwrite { file, off, len, byte } => write!(f, "Pwrite(#{file} {off}+{len} {byte:#04x})"),
            Op::Pread { file, off, len } => write!(f, "Pread(#{file} {off}+{len})"),
            Op::Truncate { file, size } => write!(f, "Truncate(#{file} {size})"),
            Op::Punch { file, off, len } => write!(f, "Punch(#{file} {off}+{len})"),
            Op::Falloc { file, off, len, keep } => write!(f, "Falloc(#{file} {off}+{len} keep={keep})"),
            Op::Fsync { file } => write!(f, "Fsync(#{file})"),
        }
    }
}

/// Offsets biased towards block boundaries and their neighbours, where bugs live.
pub fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0..SPAN / 4096).prop_map(|b| b * 4096),
        (1..SPAN / 4096, -2i64..=2).prop_map(|(b, d)| (b * 4096) as i64 + d).prop_map(|x| x as u64),
        0..SPAN,
    ]
}

/// Lengths: small, block-sized, or large.
pub fn length() -> impl Strategy<Value = u64> {
    prop_oneof![1..64u64, (1..4u64).prop_map(|b| b * 4096), 1..SPAN / 2]
}

/// The basic data operations.
pub fn basic_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..4u8).prop_map(|n| Op::Create { n }),
        4 => (any::<u8>(), offset(), length(), any::<u8>())
            .prop_map(|(file, off, len, byte)| Op::Pwrite { file, off, len, byte }),
        1 => (any::<u8>(), offset(), length()).prop_map(|(file, off, len)| Op::Pread { file, off, len }),
        2 => (any::<u8>(), offset()).prop_map(|(file, size)| Op::Truncate { file, size }),
        2 => (any::<u8>(), offset(), length()).prop_map(|(file, off, len)| Op::Punch { file, off, len }),
        1 => (any::<u8>(), offset(), length(), any::<bool>())
            .prop_map(|(file, off, len, keep)| Op::Falloc { file, off, len, keep }),
        1 => any::<u8>().prop_map(|file| Op::Fsync { file }),
    ]
}

/// The simulator and the reference model, side by side.
pub struct Harness {
    pub proc: Process,
    pub model: Reference,
    pub live: Vec<String>,
    /// The script so far (for failure reports).
    pub script: Vec<String>,
}

impl Harness {
    /// A process with `/` mounted from `spec`.
    pub fn new(spec: &str) -> Harness {
        let vfs = Arc::new(Vfs::new());
        let fs = fs_models::spec::make(spec).expect("valid spec");
        vfs.mount("/", fs).expect("first mount");
        Harness {
            proc: Process::new(vfs, 1),
            model: Reference::new(),
            live: Vec::new(),
            script: Vec::new(),
        }
    }

    fn open(&mut self, name: &str) -> i32 {
        self.proc
            .open(&format!("/{name}"), o::RDWR, 0)
            .expect("live file opens")
    }

    /// Applies one operation to both sides and checks the result.
    ///
    /// # Errors
    /// A description of the first disagreement.
    pub fn apply(&mut self, op: &Op) -> Result<(), String> {
        self.script.push(op.script(&self.live));
        if let Op::Create { n } = op {
            let name = format!("f{n}");
            let fd = self
                .proc
                .open(&format!("/{name}"), o::CREAT | o::RDWR, 0o644)
                .map_err(|e| format!("create: {e:?}"))?;
            self.proc.close(fd).ok();
            if !self.live.contains(&name) {
                self.live.push(name.clone());
            }
            self.model.create(&name);
            return self.check();
        }
        let Some(name) = Op::pick(&self.live, op_file(op)).map(str::to_string) else {
            return Ok(());
        };
        let fd = self.open(&name);
        let r: Result<(), Errno> = match *op {
            Op::Pwrite { off, len, byte, .. } => self
                .proc
                .pwrite(fd, &Data::fill(byte, len), off as i64)
                .map(|n| {
                    assert_eq!(n as u64, len);
                    self.model.pwrite(&name, off, &vec![byte; len as usize]);
                }),
            Op::Pread { off, len, .. } => self.proc.pread(fd, len as usize, off as i64).map(|d| {
                let want = self.model.content(&name);
                let s = (off as usize).min(want.len());
                let e = ((off + len) as usize).min(want.len());
                assert_eq!(d.to_vec(), &want[s..e], "pread {off} {len} of {name}");
            }),
            Op::Truncate { size, .. } => self
                .proc
                .ftruncate(fd, size as i64)
                .map(|()| self.model.truncate(&name, size)),
            Op::Punch { off, len, .. } => self
                .proc
                .fallocate(fd, 3, off as i64, len as i64)
                .map(|()| self.model.punch(&name, off, len)),
            Op::Falloc { off, len, keep, .. } => self
                .proc
                .fallocate(fd, keep as i32, off as i64, len as i64)
                .map(|()| self.model.falloc(&name, off, len, keep)),
            Op::Fsync { .. } => self.proc.fsync(fd),
            Op::Create { .. } => unreachable!("handled above"),
        };
        self.proc.close(fd).ok();
        r.map_err(|e| format!("{op:?} failed: {e:?}"))?;
        self.check()
    }

    /// Property 1 (content) and 5 (fsck) over every live file.
    ///
    /// # Errors
    /// A description of the first disagreement.
    pub fn check(&mut self) -> Result<(), String> {
        for name in self.live.clone() {
            let fd = self.open(&name);
            let got = self.proc.pread(fd, 1 << 20, 0).map_err(|e| format!("{e:?}"))?;
            self.proc.close(fd).ok();
            let want = self.model.content(&name);
            if got.to_vec() != want {
                return Err(format!(
                    "content of {name} differs: simulator {} bytes, model {} bytes",
                    got.len(),
                    want.len()
                ));
            }
        }
        for m in self.proc.vfs.mounts() {
            let problems = m.fs.fsck();
            if !problems.is_empty() {
                return Err(format!("fsck of {}: {problems:?}", m.path));
            }
        }
        Ok(())
    }

    /// The script that replays everything applied so far.
    pub fn replay_script(&self) -> String {
        self.script.join("\n") + "\n"
    }
}

fn op_file(op: &Op) -> u8 {
    match *op {
        Op::Create { n } => n,
        Op::Pwrite { file, .. }
        | Op::Pread { file, .. }
        | Op::Truncate { file, .. }
        | Op::Punch { file, .. }
        | Op::Falloc { file, .. }
        | Op::Fsync { file } => file,
    }
}

/// Runs a sequence; on failure returns the error and the replay script.
///
/// # Errors
/// The first disagreement, with a script that replays the sequence.
pub fn run(spec: &str, ops: &[Op]) -> Result<(), String> {
    let mut h = Harness::new(spec);
    for op in ops {
        if let Err(e) = h.apply(op) {
            return Err(format!(
                "{e}\n--- replay with: splicelab script --fs {spec} -\n{}",
                h.replay_script()
            ));
        }
    }
    Ok(())
}
