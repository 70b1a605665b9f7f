//! The script commands: names, synopses and one-line descriptions (for `--help` and for
//! usage errors).

/// One command of the script language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdInfo {
    /// Canonical name.
    pub name: &'static str,
    /// Other names (xfs_io's short forms).
    pub alt: &'static [&'static str],
    /// Synopsis of the arguments.
    pub args: &'static str,
    /// What it does, in one line.
    pub oneline: &'static str,
    /// Whether xfs_io has this command (its output then follows xfs_io's format).
    pub xfs_io: bool,
}

impl CmdInfo {
    /// `name args`.
    pub fn usage(&self) -> String {
        if self.args.is_empty() {
            self.name.to_string()
        } else {
            format!("{} {}", self.name, self.args)
        }
    }
}

const fn c(
    name: &'static str,
    alt: &'static [&'static str],
    args: &'static str,
    oneline: &'static str,
    xfs_io: bool,
) -> CmdInfo {
    CmdInfo {
        name,
        alt,
        args,
        oneline,
        xfs_io,
    }
}

/// Every command, in the order `--help` lists them.
pub const COMMANDS: &[CmdInfo] = &[
    c(
        "open",
        &["o"],
        "[-acfrt] [PATH]",
        "open PATH read-write and make it the current file (-f/-c create, -r read-only, -a O_APPEND, -t O_TRUNC); no PATH: stat the current file",
        true,
    ),
    c(
        "file",
        &["f"],
        "[N]",
        "list the open files, or make file N the current one",
        true,
    ),
    c(
        "close",
        &["c"],
        "[-u]",
        "close the current file and list the files still open; -u (lab): instead close every open file that has no name any more (unlinked, or replaced by a rename), so the last close evicts it",
        true,
    ),
    c(
        "pwrite",
        &["w"],
        "[-qCwW] [-b BS] [-S SEED] OFF LEN",
        "write LEN bytes of the byte SEED (default 0xcd) at OFF, in BS-sized pwrite calls (default 4096, as xfs_io); a call short of space ends it with its count; -W/-w fsync/fdatasync after",
        true,
    ),
    c(
        "pread",
        &["r"],
        "[-qvC] [-b BS] OFF LEN",
        "read LEN bytes at OFF in BS-sized calls (default 4096, as xfs_io); -v dumps them in hex",
        true,
    ),
    c(
        "truncate",
        &["t"],
        "SIZE",
        "ftruncate the current file to SIZE",
        true,
    ),
    c(
        "falloc",
        &[],
        "[-c|-i|-k|-p|-u] OFF LEN",
        "fallocate: allocate (-k keep size), -p punch, -c collapse, -i insert, -u unshare",
        true,
    ),
    c(
        "fpunch",
        &[],
        "OFF LEN",
        "punch a hole (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE)",
        true,
    ),
    c(
        "fzero",
        &[],
        "[-k] OFF LEN",
        "zero a range (FALLOC_FL_ZERO_RANGE)",
        true,
    ),
    c(
        "fcollapse",
        &[],
        "OFF LEN",
        "collapse a range (FALLOC_FL_COLLAPSE_RANGE)",
        true,
    ),
    c(
        "finsert",
        &[],
        "OFF LEN",
        "insert a hole (FALLOC_FL_INSERT_RANGE)",
        true,
    ),
    c(
        "funshare",
        &[],
        "OFF LEN",
        "unshare shared blocks (FALLOC_FL_UNSHARE_RANGE)",
        true,
    ),
    c(
        "seek",
        &[],
        "-a|-d|-h [-r] [-s] OFF",
        "next data (-d), hole (-h) or both (-a) at or after OFF; -r all of them",
        true,
    ),
    c("fsync", &["s"], "", "fsync the current file", true),
    c("fdatasync", &["fd"], "", "fdatasync the current file", true),
    c("sync", &[], "", "sync every mounted filesystem", true),
    c(
        "stat",
        &[],
        "",
        "fstat the current file (fd.path, fd.flags, stat.ino/type/size/blocks)",
        true,
    ),
    c(
        "fiemap",
        &[],
        "[-lv] [-n N] [OFF [LEN]]",
        "the extent map in 512-byte units; -v as a table with hex flags (0x2000 = shared, 0x800 = unwritten, 0x1 = last)",
        true,
    ),
    c(
        "reflink",
        &["rl"],
        "[-Cq] SRC [SOFF DOFF LEN]",
        "share SRC's blocks into the current file: FICLONERANGE, or FICLONE without a range",
        true,
    ),
    c(
        "dedupe",
        &["dd"],
        "[-Cq] SRC SOFF DOFF LEN",
        "FIDEDUPERANGE: share SRC's range if it equals the current file's",
        true,
    ),
    c(
        "copy_range",
        &[],
        "[-s SOFF] [-d DOFF] [-l LEN] SRC | -f N",
        "copy_file_range(flags=0) in a loop until done; LEN defaults to SRC's size minus SOFF; prints nothing on success; when a call fails after earlier calls copied bytes, 'copied N/LEN bytes at offset DOFF' before the error",
        true,
    ),
    c(
        "splice",
        &[],
        "[-aCnq] [-s SOFF] [-d DOFF] [-l LEN] [-F never|may|must|FLAGS] SRC | -f N",
        "the proposed file-to-file splice, never/may/must share (-n adds SPLICE_F_NONBLOCK): one call (-a: loop until done), LEN defaults to SRC's size minus SOFF; prints 'spliced N/N bytes at offset N' and a line with chunks, shared blocks and virtual time (with -a, also before the error when a call fails after earlier calls moved bytes)",
        false,
    ),
    c(
        "signal",
        &[],
        "after N chunks | off",
        "deliver a signal to the task after N more chunks of byte copy (0 = before the first)",
        false,
    ),
    c(
        "mount",
        &[],
        "MODEL[:OPT=V,...] DIR",
        "mount a new filesystem of MODEL on the existing directory DIR",
        false,
    ),
    c(
        "md5sum",
        &[],
        "PATH",
        "print 'HEX  PATH' like md5sum(1), reading in 1 MiB chunks; at most 4 GiB (MD5 reads every byte, holes too)",
        false,
    ),
    c(
        "shared",
        &[],
        "PATH",
        "print which blocks of PATH are shared and by how many references (any model, \
         nfs-like included: it reads the server's image)",
        false,
    ),
    c("mkdir", &[], "PATH", "create a directory", false),
    c("rmdir", &[], "PATH", "remove an empty directory", false),
    c("rm", &[], "PATH", "unlink a file", false),
    c("mv", &[], "OLD NEW", "rename(2)", false),
    c(
        "chattr",
        &[],
        "(+|-)[iaC] PATH",
        "set or clear immutable (i), append-only (a), nodatacow (C)",
        false,
    ),
    c(
        "crash",
        &[],
        "[N]",
        "crash every mount to its permitted state N (default 0 = the durable state) and close all files",
        false,
    ),
    c(
        "inject",
        &[],
        "media PATH OFF | enospc N [PATH] | reboot [after SIZE] [PATH] | partition MS [PATH]",
        "inject a fault: media error under byte OFF of PATH (prints the files it hits), ENOSPC at the Nth allocation from now, nfs-like server reboot (now, or once an asynchronous copy has done SIZE bytes) or network partition of MS milliseconds, at most 2^42 (on the mount of PATH, default the current file's, else /)",
        false,
    ),
    c(
        "fsck",
        &[],
        "",
        "check every mounted filesystem's invariants: 'fsck: clean' or the problems",
        false,
    ),
    c("echo", &[], "TEXT", "print TEXT", false),
    c("quit", &["q"], "", "stop the script here", true),
];

/// The command called `word` (canonical or alternative name).
pub fn lookup(word: &str) -> Option<&'static CmdInfo> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.alt.contains(&word))
}

/// The known name closest to `word`, if it is close (edit distance ≤ 2).
pub fn suggest(word: &str) -> Option<&'static str> {
    // The distance is at least the difference in length: a long word (a 100 KiB garbage
    // line) is compared with no name, so a bad line costs time linear in its length.
    let len = word.chars().count();
    COMMANDS
        .iter()
        .filter(|c| c.name.len().abs_diff(len) <= 2)
        .map(|c| (distance(word, c.name), c.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The long help of `splicelab script`: every command with its synopsis and description,
/// then examples.
pub fn long_help() -> String {
    let mut s = String::new();
    s.push_str(
        "Runs a script of xfs_io commands (plus splice and lab commands) against a simulated\n\
         process whose / is a fresh filesystem of the --fs model. One command per line; blank\n\
         lines and lines starting with # are ignored; a first line '# fs: MODEL' picks the model\n\
         when --fs is not given (and must name a valid model either way). The script is UTF-8\n\
         (a byte-order mark at the start is skipped). Paths are absolute or relative to /, and\n\
         are looked up as Linux does: 'rm a/' on a file is ENOTDIR, 'rmdir d/.' EINVAL.\n\n\
         Output follows xfs_io: 'wrote 65536/65536 bytes at offset 0', errors as 'pwrite: Bad file\n\
         descriptor', everything on standard output in order (like xfs_io 2>&1). Timing lines use\n\
         the task's VIRTUAL time from the filesystem's cost model, so transcripts are reproducible.\n\
         Commands act on the current file (the last opened, or the one chosen with 'file N').\n\n\
         The whole script is checked before anything runs: a malformed line (unknown command, wrong\n\
         arguments, bad number or option, unknown model) prints 'script:LINE: problem' on standard\n\
         error and exits with status 1 without running any line. Failing system calls do not stop\n\
         the script. --json prints one JSON object per command instead.\n\n\
         Numbers: decimal, 0x hex, 0-prefixed octal, with a suffix k m g t p e (powers of 1024),\n\
         s (512) or b (4096), as xfs_io's cvtnum; mount sizes (size=, chunk=, ...) take the same.\n\
         Where xfs_io hands a number to the kernel unchecked (copy_range/splice -l, pread's offset)\n\
         it is computed as C does (16e wraps to 0, 10e to 0xa000000000000000, huge saturates) and\n\
         the system call answers (EOVERFLOW, EINVAL); -l -1 is refused, as xfs_io does.\n\
         An option given twice is checked both times; the last one counts. Control characters\n\
         of the input are shown escaped (\\x1b) when a line or message repeats them.\n\n\
         Where the lab deliberately differs from xfs_io:\n         \x20 - pwrite/pread make a run of whole buffers as one system call moving the same bytes\n         \x20   (data is lazy: a 1 TiB pattern write costs one call) but count and time every call\n         \x20   xfs_io makes; a call is made alone where the run stopped (out of space, EOF).\n         \x20 - pwrite fills with the seed byte only: no -R random data, -V vectors or -F/-B patterns.\n         \x20 - one stream (like xfs_io 2>&1); times are virtual; a loop stops after 2^20 calls\n         \x20   (copy_range and splice -a after 2^18 chunks of byte copy).\n         \x20 - lab commands (no * below) and splice have no xfs_io counterpart.\n\n         Commands (xfs_io's are marked *):\n",
    );
    for c in COMMANDS {
        let mark = if c.xfs_io { '*' } else { ' ' };
        s.push_str(&format!("  {mark} {}\n        {}\n", c.usage(), c.oneline));
    }
    s.push_str(&format!(
        "\nModels for --fs and mount: {}.\n",
        fs_models::spec::MODELS.join(", ")
    ));
    s.push_str(
        "\nExamples:\n\
         \x20 printf 'open -f a\\npwrite -S 0x61 0 64k\\nmd5sum a\\n' | splicelab script -\n\
         \x20 printf 'open -f big\\npwrite -S 0x62 0 1t\\nstat\\n' | splicelab script --fs plain -\n\
         \x20 splicelab script --fs btrfs-like demo.scr   where demo.scr is:\n\
         \x20     open -f a\n\
         \x20     pwrite -S 0x61 0 1m\n\
         \x20     open -f b\n\
         \x20     splice -F must a\n\
         \x20     fiemap -v\n\
         \x20     inject media a 0\n\
         \x20     crash\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_help_lists_every_command() {
        let help = long_help();
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for n in std::iter::once(&c.name).chain(c.alt) {
                assert!(seen.insert(*n), "duplicate name {n}");
            }
            assert!(help.contains(&c.usage()), "{}", c.name);
        }
        assert_eq!(suggest("pwrit"), Some("pwrite"));
        assert_eq!(suggest("zzzzzzzz"), None);
    }
}
