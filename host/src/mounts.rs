//! Real test filesystems: loop-mounted btrfs and XFS images, and tmpfs.
//!
//! [`TestMount::new`] makes a private temporary directory, a sparse image file in it (it
//! costs only the blocks the test writes), formats it, attaches it to a loop device and
//! mounts it; [`Drop`] undoes all of that on every exit path, including a panic in the test
//! body (drop runs while unwinding). Unmounting is retried while the filesystem is busy and
//! falls back to a lazy unmount. A command that is ended by a signal (`timeout`'s
//! `SIGTERM`, a closed terminal's `SIGHUP`, `^C` where the command has no `^C` handling of
//! its own) tears its mounts down too once it called [`tear_down_on_termination`]: every
//! live mount is in a process-wide registry, and a thread waiting for those signals
//! unmounts (lazily), detaches and removes them before the process exits with 128 + the
//! signal. Only `SIGKILL` leaves a mount behind.
//!
//! [`TestTree`] holds several such mounts under one directory, for a
//! [`Linux`](crate::linux::Linux) whose namespace spans filesystems (`/a` on btrfs, `/b` on
//! XFS: `EXDEV` between them).
//!
//! Everything here needs root. [`prerequisites`] says why a kind cannot run on this machine;
//! [`ready_or_skip`] turns that into a skip notice, or a panic when `CI=true`.
//!
//! The tools used are `mkfs.btrfs` (btrfs-progs), `mkfs.xfs` (xfsprogs) and `losetup`
//! (util-linux); mounting and unmounting are the `mount(2)`/`umount2(2)` system calls.

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::Duration;

/// The default image size: 512 MiB, above every kind's minimum. Images are sparse, so the
/// size costs nothing until written.
pub const DEFAULT_SIZE: u64 = 512 << 20;

/// The block size of every test filesystem (`mkfs` is told so explicitly).
pub const BLOCK_SIZE: u64 = 4096;

/// How often a busy filesystem is unmounted again before falling back to a lazy unmount.
const UMOUNT_TRIES: u32 = 8;

/// A kind of real filesystem the tests can mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RealFs {
    /// btrfs on a loop device (reflink always available).
    Btrfs,
    /// XFS on a loop device, formatted with `-m reflink=1`.
    XfsReflink,
    /// XFS on a loop device, formatted with `-m reflink=0` (no sharing at all).
    XfsNoReflink,
    /// tmpfs (no sharing, no `remap_file_range`).
    Tmpfs,
}

impl RealFs {
    /// Every kind, in a fixed order.
    pub const ALL: [RealFs; 4] = [
        RealFs::Btrfs,
        RealFs::XfsReflink,
        RealFs::XfsNoReflink,
        RealFs::Tmpfs,
    ];

    /// A short name for messages and directory names (`"xfs-reflink"`).
    pub fn name(self) -> &'static str {
        match self {
            RealFs::Btrfs => "btrfs",
            RealFs::XfsReflink => "xfs-reflink",
            RealFs::XfsNoReflink => "xfs-noreflink",
            RealFs::Tmpfs => "tmpfs",
        }
    }

    /// The kernel's filesystem type (`mount -t`).
    pub fn fs_type(self) -> &'static str {
        match self {
            RealFs::Btrfs => "btrfs",
            RealFs::XfsReflink | RealFs::XfsNoReflink => "xfs",
            RealFs::Tmpfs => "tmpfs",
        }
    }

    /// Whether `FICLONE` and friends can share extents on this kind.
    pub fn supports_reflink(self) -> bool {
        matches!(self, RealFs::Btrfs | RealFs::XfsReflink)
    }

    /// Whether this kind lives on a loop-mounted image (everything but tmpfs).
    pub fn is_loop_backed(self) -> bool {
        !matches!(self, RealFs::Tmpfs)
    }

    /// The smallest size this kind can be made with: `mkfs.xfs` (xfsprogs 6.1) refuses
    /// images under 300 MiB, `mkfs.btrfs` (btrfs-progs 6.2, default DUP metadata) under
    /// 114 294 784 bytes (109 MiB, the "114 MB" of its error message).
    pub fn min_size(self) -> u64 {
        match self {
            RealFs::Btrfs => 109 << 20,
            RealFs::XfsReflink | RealFs::XfsNoReflink => 300 << 20,
            RealFs::Tmpfs => BLOCK_SIZE,
        }
    }

    /// The `mkfs` program and the package that provides it, for loop-backed kinds.
    pub fn mkfs_tool(self) -> Option<(&'static str, &'static str)> {
        match self {
            RealFs::Btrfs => Some(("mkfs.btrfs", "btrfs-progs")),
            RealFs::XfsReflink | RealFs::XfsNoReflink => Some(("mkfs.xfs", "xfsprogs")),
            RealFs::Tmpfs => None,
        }
    }

    /// The `mkfs` arguments before the image path.
    fn mkfs_args(self) -> &'static [&'static str] {
        match self {
            RealFs::Btrfs => &["-f", "-q", "--sectorsize", "4096"],
            RealFs::XfsReflink => &["-f", "-q", "-b", "size=4096", "-m", "reflink=1"],
            RealFs::XfsNoReflink => &["-f", "-q", "-b", "size=4096", "-m", "reflink=0"],
            RealFs::Tmpfs => &[],
        }
    }
}

impl fmt::Display for RealFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The running kernel's release, as `uname -r` prints it (`"6.18.44"`), or `"unknown"`.
pub fn kernel_release() -> String {
    // SAFETY: an all-zero `struct utsname` is a valid value of the plain-data type.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a writable `struct utsname`.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Finds an executable in `$PATH`, or in the `sbin` directories a non-login `$PATH` often
/// lacks.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Why `kind` cannot be mounted here, if it cannot: not root, the `mkfs` program or
/// `losetup` missing, or no loop device.
///
/// # Errors
/// A one-line reason, e.g. `"mkfs.xfs not found (install xfsprogs)"`.
pub fn prerequisites(kind: RealFs) -> Result<(), String> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root (mounting needs CAP_SYS_ADMIN)".into());
    }
    if let Some((tool, package)) = kind.mkfs_tool()
        && find_tool(tool).is_none()
    {
        return Err(format!("{tool} not found (install {package})"));
    }
    if kind.is_loop_backed() {
        if find_tool("losetup").is_none() {
            return Err("losetup not found (install util-linux)".into());
        }
        if !Path::new("/dev/loop-control").exists() && !Path::new("/dev/loop0").exists() {
            return Err("no loop device (/dev/loop-control and /dev/loop0 are missing)".into());
        }
    }
    Ok(())
}

/// Whether `CI=true` is set (then no test may be skipped for a missing prerequisite).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// For tests: `true` if `kind` can be mounted here; otherwise prints a skip notice naming
/// `who` and the reason to stderr and returns `false`.
///
/// # Panics
/// When `kind` cannot run here and the environment says `CI=true`: in CI a missing
/// prerequisite is a failure, not a skip.
pub fn ready_or_skip(kind: RealFs, who: &str) -> bool {
    match prerequisites(kind) {
        Ok(()) => true,
        Err(why) if ci() => panic!("{who}: CI=true but {kind} cannot be mounted here: {why}"),
        Err(why) => {
            eprintln!("SKIP {who} on {kind}: {why} (with CI=true this fails)");
            false
        }
    }
}

/// Whether `path` is the root of a mount (its device differs from its parent's, or it is
/// `/`).
///
/// # Errors
/// Whatever `stat(2)` on `path` or its parent reports.
pub fn is_mount_point(path: &Path) -> io::Result<bool> {
    let me = fs::metadata(path)?;
    let parent = fs::metadata(path.join(".."))?;
    Ok(me.dev() != parent.dev() || me.ino() == parent.ino())
}

/// A new, empty directory `$TMPDIR/splicelab-<tag>-<pid>-<n>`.
fn unique_temp_dir(tag: &str) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = base.join(format!("splicelab-{tag}-{}-{n}", std::process::id()));
        match fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Runs a tool to completion; its stdout on success.
fn run(tool: &str, args: &[&str], last: &Path) -> io::Result<String> {
    let exe = find_tool(tool).ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{tool} not found in PATH"))
    })?;
    let out = Command::new(&exe)
        .args(args)
        .arg(last)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{tool} {} {}: {}: {}",
            args.join(" "),
            last.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn c_string(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// `mount(2)`.
fn mount(source: &Path, target: &Path, fs_type: &str, data: &str) -> io::Result<()> {
    let (src, tgt) = (c_string(source)?, c_string(target)?);
    let ty = CString::new(fs_type).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let data = CString::new(data).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            ty.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    let hint = if e.raw_os_error() == Some(libc::ENODEV) {
        " (the kernel has no such filesystem type)"
    } else {
        ""
    };
    Err(io::Error::new(
        e.kind(),
        format!(
            "mount -t {fs_type} {} {}: {e}{hint}",
            source.display(),
            target.display()
        ),
    ))
}

/// `umount2(2)`; `Ok(false)` if `target` is not (or no longer) a mount point.
fn umount2(target: &Path, flags: libc::c_int) -> io::Result<bool> {
    let tgt = c_string(target)?;
    // SAFETY: `tgt` is a NUL-terminated string.
    if unsafe { libc::umount2(tgt.as_ptr(), flags) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(false),
        _ => Err(e),
    }
}

/// Unmounts `target`, retrying while it is busy, then lazily (`MNT_DETACH`).
fn unmount_with_retries(target: &Path) -> io::Result<()> {
    for attempt in 0..UMOUNT_TRIES {
        match umount2(target, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                sleep(Duration::from_millis(25 << attempt.min(3)));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("umount {}: {e}", target.display()),
                ));
            }
        }
    }
    eprintln!(
        "warning: {} still busy after {UMOUNT_TRIES} tries; detaching it lazily",
        target.display()
    );
    umount2(target, libc::MNT_DETACH)
        .map(|_| ())
        .map_err(|e| io::Error::new(e.kind(), format!("umount -l {}: {e}", target.display())))
}

/// `losetup -d`, retried a few times (a just-unmounted device can be briefly busy).
fn detach_loop(dev: &Path) -> io::Result<()> {
    let mut last = None;
    for attempt in 0..5u32 {
        match run("losetup", &["-d"], dev) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        sleep(Duration::from_millis(20 << attempt));
    }
    Err(last.unwrap_or_else(|| io::Error::other("losetup -d failed")))
}

/// `losetup --find --show IMAGE`, retried when a concurrent setup took the free device.
fn attach_loop(image: &Path) -> io::Result<PathBuf> {
    let mut last = None;
    for attempt in 0..5u32 {
        match run("losetup", &["--find", "--show"], image) {
            Ok(out) if !out.trim().is_empty() => return Ok(PathBuf::from(out.trim())),
            Ok(_) => last = Some(io::Error::other("losetup --find --show printed nothing")),
            Err(e) => last = Some(e),
        }
        sleep(Duration::from_millis(20 << attempt));
    }
    Err(last.unwrap_or_else(|| io::Error::other("losetup --find failed")))
}

/// A mounted test filesystem, unmounted and removed again on drop.
///
/// What a signal-ended process must undo for one live [`TestMount`] (its mount point, its
/// loop device, the directories it made: the mount point and the private one with the
/// image) or [`TestTree`] (its directory).
#[derive(Clone, Debug)]
struct LiveMount {
    id: u64,
    mount_point: Option<PathBuf>,
    loop_dev: Option<PathBuf>,
    /// Removed (recursively) once nothing is mounted on them.
    dirs: Vec<PathBuf>,
}

impl LiveMount {
    /// Lazily unmounts (the command's other threads may still have files open there),
    /// detaches, removes: best effort, from the signal watcher.
    fn undo(&self) {
        if let Some(mp) = &self.mount_point {
            let _ = umount2(mp, libc::MNT_DETACH);
        }
        if let Some(dev) = &self.loop_dev {
            let _ = detach_loop(dev);
        }
        for d in &self.dirs {
            // Never recurse into a filesystem that is still mounted.
            if !is_mount_point(d).unwrap_or(true) {
                let _ = fs::remove_dir_all(d);
            }
        }
    }
}

/// Records (or updates) `entry` in the registry of live mounts.
fn register_live(entry: LiveMount) {
    let mut l = live();
    match l.iter_mut().find(|m| m.id == entry.id) {
        Some(m) => *m = entry,
        None => l.push(entry),
    }
}

/// Drops entry `id` from the registry: its owner is undoing it now.
fn deregister_live(id: u64) {
    live().retain(|m| m.id != id);
}

/// Every mounted [`TestMount`] of this process, for [`tear_down_on_termination`].
static LIVE: Mutex<Vec<LiveMount>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<LiveMount>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

static NEXT_MOUNT_ID: AtomicU64 = AtomicU64::new(1);

/// Held while a mount is being set up, remounted after a power cut's capture, or torn
/// down: the signal watcher takes it before undoing, so that no mount(2) completes behind
/// its back and no teardown is cut off half-way by the exit (see [`TestMount::power_cut`]
/// for why the capture itself is outside it).
static SETUP: Mutex<()> = Mutex::new(());

fn setup_lock() -> std::sync::MutexGuard<'static, ()> {
    SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes `SIGTERM`, `SIGHUP` and, with `with_sigint`, `SIGINT` tear down every live test
/// mount of the process before it exits with status 128 + the signal. Call it before the
/// command starts any thread (the signals are blocked in the calling thread, and threads
/// started later inherit that; one thread of its own waits for them with `sigwait`). A
/// command with its own `^C` handling (an interruptible copy) passes `with_sigint: false`.
/// Idempotent.
pub fn tear_down_on_termination(with_sigint: bool) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // SAFETY: a signal set on the stack, filled by sigemptyset/sigaddset, and a mask
        // change of the calling thread only.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGHUP);
            if with_sigint {
                libc::sigaddset(&mut set, libc::SIGINT);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        let spawned = std::thread::Builder::new()
            .name("mount-teardown".into())
            .spawn(move || {
                let mut sig: libc::c_int = 0;
                // SAFETY: `set` is a valid, blocked signal set; `sig` receives the number.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    return;
                }
                let _no_setup_in_flight = setup_lock();
                // Newest first: a tree's mounts before the tree's directory.
                let mounts = std::mem::take(&mut *live());
                for m in mounts.iter().rev() {
                    m.undo();
                }
                std::process::exit(128 + sig);
            });
        if spawned.is_err() {
            eprintln!("warning: no thread to tear test mounts down on a signal");
        }
    });
}

/// ```no_run
/// use host::mounts::{RealFs, TestMount, DEFAULT_SIZE};
/// let m = TestMount::new(RealFs::Btrfs, DEFAULT_SIZE)?;
/// std::fs::write(m.path().join("a"), b"hello")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TestMount {
    kind: RealFs,
    size: u64,
    mount_point: PathBuf,
    /// Whether we created the mount point (then we remove it).
    created_mount_point: bool,
    /// Our private temporary directory (image, and the mount point for [`TestMount::new`]).
    work_dir: Option<PathBuf>,
    image: Option<PathBuf>,
    loop_dev: Option<PathBuf>,
    mounted: bool,
    /// This mount's entry in the registry of live mounts ([`tear_down_on_termination`]).
    id: u64,
}

impl TestMount {
    /// Makes and mounts a `kind` filesystem of `size_bytes` on a new temporary directory
    /// (`$TMPDIR/splicelab-<kind>-<pid>-<n>/mnt`; the image file sits beside it).
    ///
    /// # Errors
    /// `InvalidInput` if `size_bytes` is below [`RealFs::min_size`]; otherwise the first
    /// failing step (creating the directory or image, `mkfs`, `losetup`, `mount(2)`), with
    /// the tool's stderr. Whatever was set up before the failure is torn down again.
    pub fn new(kind: RealFs, size_bytes: u64) -> io::Result<TestMount> {
        check_size(kind, size_bytes)?;
        let work = unique_temp_dir(kind.name())?;
        let mount_point = work.join("mnt");
        let mut m = TestMount {
            kind,
            size: size_bytes,
            mount_point,
            created_mount_point: false,
            work_dir: Some(work),
            image: None,
            loop_dev: None,
            mounted: false,
            id: NEXT_MOUNT_ID.fetch_add(1, Ordering::Relaxed),
        };
        fs::create_dir(&m.mount_point)?;
        m.created_mount_point = true;
        m.setup()?;
        Ok(m)
    }

    /// Makes and mounts a `kind` filesystem of `size_bytes` on `mount_point`, which is
    /// created if missing (and then removed on drop). The image file goes to a private
    /// temporary directory.
    ///
    /// # Errors
    /// As [`TestMount::new`], and whatever creating `mount_point` reports.
    pub fn new_at(kind: RealFs, size_bytes: u64, mount_point: &Path) -> io::Result<TestMount> {
        check_size(kind, size_bytes)?;
        let mut m = TestMount {
            kind,
            size: size_bytes,
            mount_point: mount_point.to_path_buf(),
            created_mount_point: false,
            work_dir: None,
            image: None,
            loop_dev: None,
            mounted: false,
            id: NEXT_MOUNT_ID.fetch_add(1, Ordering::Relaxed),
        };
        if !mount_point.exists() {
            fs::create_dir_all(mount_point)?;
            m.created_mount_point = true;
        }
        if kind.is_loop_backed() {
            m.work_dir = Some(unique_temp_dir(kind.name())?);
        }
        m.setup()?;
        Ok(m)
    }

    /// Image, `mkfs`, loop device, mount: each step recorded as soon as it is done, so
    /// that `Drop` undoes exactly what was done.
    fn setup(&mut self) -> io::Result<()> {
        let _in_flight = setup_lock();
        // The directories exist already: a signal during mkfs must remove them too.
        self.register();
        let kind = self.kind;
        if let (Some((tool, _)), Some(work)) = (kind.mkfs_tool(), &self.work_dir) {
            let image = work.join("image");
            fs::File::create_new(&image)?.set_len(self.size)?;
            self.image = Some(image.clone());
            run(tool, kind.mkfs_args(), &image)?;
            let dev = attach_loop(&image)?;
            self.loop_dev = Some(dev.clone());
            self.register();
            mount(&dev, &self.mount_point, kind.fs_type(), "")?;
        } else {
            let data = format!("size={},mode=0755", self.size);
            mount(Path::new("tmpfs"), &self.mount_point, "tmpfs", &data)?;
        }
        self.mounted = true;
        self.register();
        Ok(())
    }

    /// Records (or updates) this mount in the registry of live mounts; before anything
    /// that a signal could interrupt, the registry must name what there is to undo.
    fn register(&self) {
        let created = self.created_mount_point.then(|| self.mount_point.clone());
        register_live(LiveMount {
            id: self.id,
            mount_point: Some(self.mount_point.clone()),
            loop_dev: self.loop_dev.clone(),
            dirs: created.into_iter().chain(self.work_dir.clone()).collect(),
        });
    }

    /// The mounted filesystem's root directory.
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// The kind of filesystem.
    pub fn kind(&self) -> RealFs {
        self.kind
    }

    /// The filesystem block size: [`BLOCK_SIZE`] (4096) for every kind.
    pub fn block_size(&self) -> u64 {
        BLOCK_SIZE
    }

    /// The image (or tmpfs) size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The loop device, for loop-backed kinds.
    pub fn loop_device(&self) -> Option<&Path> {
        self.loop_dev.as_deref()
    }

    /// The running kernel's release (`uname -r`).
    pub fn kernel_release(&self) -> String {
        kernel_release()
    }

    /// Unmounts, detaches and removes everything now, reporting what went wrong (drop does
    /// the same but can only print).
    ///
    /// # Errors
    /// The failures of `umount2(2)` (after retries and a lazy unmount), `losetup -d` and the
    /// removal of the temporary files, joined into one message.
    pub fn unmount(mut self) -> io::Result<()> {
        self.teardown()
    }

    /// A power cut: the device is copied as it holds the filesystem at this instant (for a
    /// loop mount, the image file as the loop driver has written it: what the filesystem
    /// only has in its page cache or unforced log is not there), the filesystem is
    /// unmounted and its loop device detached, and the copy is mounted in its place — so
    /// mount-time log recovery runs on exactly what a power cut would have left. tmpfs loses
    /// everything: a fresh instance is mounted. Every descriptor on the filesystem must be
    /// closed first (the unmount fails otherwise).
    ///
    /// # Errors
    /// Copying the image, unmounting, detaching, attaching or mounting; the mount is then
    /// left in whatever state the failed step left it (`Drop` still tears it down).
    pub fn power_cut(&mut self) -> io::Result<()> {
        // The device is captured before the setup lock is taken: a power cut is a step of
        // a running scenario, and waiting for another test's mkfs or teardown before the
        // capture would let the kernel write back what the cut must find unwritten
        // (measured: the conformance suite's power-cut cases diverged when it did). The
        // remount after the capture holds it, so that a signal never races it.
        let Some(image) = self.image.clone() else {
            let _in_flight = setup_lock();
            unmount_with_retries(&self.mount_point)?;
            self.mounted = false;
            let data = format!("size={},mode=0755", self.size);
            mount(Path::new("tmpfs"), &self.mount_point, "tmpfs", &data)?;
            self.mounted = true;
            return Ok(());
        };
        let cut = image.with_extension("cut");
        // Nothing else writes to the image while the scenario runs; `cp` reads it through
        // the host page cache, which is where the loop driver's writes are.
        let from = image
            .to_str()
            .ok_or_else(|| io::Error::other("image path is not UTF-8"))?;
        run("cp", &["--sparse=always", "--", from], &cut)?;
        let _in_flight = setup_lock();
        unmount_with_retries(&self.mount_point)?;
        self.mounted = false;
        if let Some(dev) = self.loop_dev.take() {
            detach_loop(&dev)?;
        }
        fs::rename(&cut, &image)?;
        let dev = attach_loop(&image)?;
        self.loop_dev = Some(dev.clone());
        self.register();
        mount(&dev, &self.mount_point, self.kind.fs_type(), "")?;
        self.mounted = true;
        Ok(())
    }

    /// Idempotent: every step clears its record when it succeeds.
    fn teardown(&mut self) -> io::Result<()> {
        let _in_flight = setup_lock();
        // From here on this thread undoes it; a signal now would race it for the same steps.
        deregister_live(self.id);
        let mut errors = Vec::new();
        if self.mounted {
            match unmount_with_retries(&self.mount_point) {
                Ok(()) => self.mounted = false,
                Err(e) => errors.push(e.to_string()),
            }
        }
        if let Some(dev) = &self.loop_dev {
            match detach_loop(dev) {
                Ok(()) => self.loop_dev = None,
                Err(e) => errors.push(e.to_string()),
            }
        }
        // Never remove anything while the filesystem may still be mounted on it.
        if !self.mounted {
            let mut remove = |r: io::Result<()>, what: &Path| match r {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(e) => {
                    errors.push(format!("removing {}: {e}", what.display()));
                    false
                }
            };
            if let Some(img) = &self.image
                && remove(fs::remove_file(img), img)
            {
                self.image = None;
            }
            if self.created_mount_point
                && remove(fs::remove_dir(&self.mount_point), &self.mount_point)
            {
                self.created_mount_point = false;
            }
            if let Some(work) = &self.work_dir
                && remove(fs::remove_dir(work), work)
            {
                self.work_dir = None;
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(io::Error::other(errors.join("; ")))
        }
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("warning: tearing down the {} test mount: {e}", self.kind);
        }
    }
}

fn check_size(kind: RealFs, size: u64) -> io::Result<()> {
    if size < kind.min_size() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a {kind} test filesystem needs at least {} MiB, not {size} bytes",
                kind.min_size().div_ceil(1 << 20)
            ),
        ));
    }
    Ok(())
}

/// A temporary directory holding several test mounts, for a namespace that spans
/// filesystems. Mounts are torn down in reverse order on drop, then the directory is
/// removed.
#[derive(Debug)]
pub struct TestTree {
    dir: PathBuf,
    mounts: Vec<TestMount>,
    /// Its directory's entry in the registry of live mounts.
    id: u64,
}

impl TestTree {
    /// A new empty directory `$TMPDIR/splicelab-tree-<pid>-<n>`.
    ///
    /// # Errors
    /// Whatever creating the directory reports.
    pub fn new() -> io::Result<TestTree> {
        let dir = unique_temp_dir("tree")?;
        let id = NEXT_MOUNT_ID.fetch_add(1, Ordering::Relaxed);
        register_live(LiveMount {
            id,
            mount_point: None,
            loop_dev: None,
            dirs: vec![dir.clone()],
        });
        Ok(TestTree {
            dir,
            mounts: Vec::new(),
            id,
        })
    }

    /// The directory that holds the mounts (the `/` of a [`Linux`](crate::linux::Linux)).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The mounts, in mount order.
    pub fn mounts(&self) -> &[TestMount] {
        &self.mounts
    }

    /// A power cut of every mount ([`TestMount::power_cut`]), in mount order: each device
    /// is copied before its filesystem is unmounted, so no unmount's writes reach a copy.
    ///
    /// # Errors
    /// As [`TestMount::power_cut`].
    pub fn power_cut(&mut self) -> io::Result<()> {
        for m in &mut self.mounts {
            m.power_cut()?;
        }
        Ok(())
    }

    /// Mounts a `kind` filesystem of `size_bytes` at `rel` (`"a"`, `"/mnt/b"`: relative to
    /// the tree; a leading `/` is ignored), creating the directories on the way.
    ///
    /// # Errors
    /// `InvalidInput` for an empty `rel` or one with `..`; otherwise as
    /// [`TestMount::new_at`].
    pub fn mount(&mut self, rel: &str, kind: RealFs, size_bytes: u64) -> io::Result<&TestMount> {
        let rel = Path::new(rel.trim_start_matches('/'));
        let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if rel.as_os_str().is_empty() || !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "mount point {} must name a directory inside the tree",
                    rel.display()
                ),
            ));
        }
        let at = self.dir.join(rel);
        fs::create_dir_all(&at)?;
        let m = TestMount::new_at(kind, size_bytes, &at)?;
        self.mounts.push(m);
        Ok(&self.mounts[self.mounts.len() - 1])
    }

    /// Tears everything down now, reporting what went wrong.
    ///
    /// # Errors
    /// As [`TestMount::unmount`] for each mount; the directory is then left in place.
    pub fn unmount(mut self) -> io::Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> io::Result<()> {
        let mut errors = Vec::new();
        while let Some(m) = self.mounts.pop() {
            if let Err(e) = m.unmount() {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            deregister_live(self.id);
            // Nothing is mounted below any more, so a recursive removal stays in the tree.
            match fs::remove_dir_all(&self.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => errors.push(format!("removing {}: {e}", self.dir.display())),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(io::Error::other(errors.join("; ")))
        }
    }
}

impl Drop for TestTree {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!(
                "warning: tearing down test tree {}: {e}",
                self.dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(RealFs::ALL.len(), 4);
        assert!(RealFs::Btrfs.supports_reflink() && RealFs::XfsReflink.supports_reflink());
        assert!(!RealFs::XfsNoReflink.supports_reflink() && !RealFs::Tmpfs.supports_reflink());
        assert_eq!(RealFs::XfsNoReflink.fs_type(), "xfs");
        assert!(RealFs::ALL.iter().all(|k| k.min_size() <= DEFAULT_SIZE));
        assert_eq!(RealFs::XfsReflink.to_string(), "xfs-reflink");
    }

    #[test]
    fn too_small_is_refused_before_anything_is_made() {
        let e = TestMount::new(RealFs::XfsReflink, 100 << 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("300 MiB"), "{e}");
    }

    #[test]
    fn kernel_release_is_uname_r() {
        let r = kernel_release();
        assert!(!r.is_empty() && r != "unknown");
        assert!(r.chars().next().is_some_and(|c| c.is_ascii_digit()), "{r}");
    }

    #[test]
    fn tree_rejects_paths_that_leave_it() {
        let mut t = TestTree::new().unwrap();
        let dir = t.path().to_path_buf();
        for bad in ["", "/", "../x", "a/../../b"] {
            let e = t.mount(bad, RealFs::Tmpfs, 1 << 20).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        drop(t);
        assert!(!dir.exists());
    }

    #[test]
    fn find_tool_finds_sh() {
        assert!(find_tool("sh").is_some());
        assert!(find_tool("no-such-tool-splicelab").is_none());
    }
}
