//! A full disk under a session's record (a small tmpfs, filled by the test): the session goes on,
//! says so on stderr, keeps the lines in memory and writes them once the disk has room, so the
//! record ends byte for byte as an undisturbed run's; a disk that stays full ends with an error
//! and a record of whole lines only. Mounting needs root: elsewhere the test says it skipped,
//! and where BULKHEAD_REQUIRE_DOCKER=1 (CI, as root) it must run. A read-only record folder is
//! refused before the session starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A tmpfs of `size`, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        Self::mount_with(&format!("size={size}"))
    }

    /// A tmpfs with these mount options (`size=8m`, `size=1m,ro`).
    fn mount_with(options: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the disk but for `spare` bytes; the filler's path.
    fn fill(&self, spare: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        drop(f);
        let len = std::fs::metadata(&filler).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap();
        f.set_len(len.saturating_sub(spare)).unwrap();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn small_disk(test: &str) -> Option<SmallDisk> {
    let disk = SmallDisk::mount("8m");
    if disk.is_none() {
        if std::env::var("BULKHEAD_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("{test}: CI runs as root and must mount a tmpfs to fill");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n=== SKIPPED {test}: mounting a tmpfs needs root ===\n"
        );
    }
    disk
}

/// A bot session of stolen-credentials (seed 7) on the simulated lab at 60x, recorded to
/// `record`, started in the background.
fn run(record: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args([
            "run",
            "stolen-credentials",
            "--backend",
            "sim",
            "--seed",
            "7",
        ])
        .args(["--time-scale", "60", "--record"])
        .arg(record)
        .env("BULKHEAD_DATA", env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_full_disk_mid_session_loses_no_line_and_the_record_catches_up() {
    let Some(disk) = small_disk("a_full_disk_mid_session_loses_no_line") else {
        return;
    };
    // What the session writes on a disk with room.
    let calm = tempfile::tempdir().unwrap();
    let reference = calm.path().join("reference.jsonl");
    let out = run(&reference).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let expected = std::fs::read(&reference).unwrap();
    assert!(expected.len() > 100_000, "a session's record");

    // The same session with the disk full after its first lines, freed three seconds in.
    let filler = disk.fill(20_000);
    let record = disk.path().join("session.jsonl");
    let child = run(&record);
    std::thread::sleep(Duration::from_secs(3));
    let on_disk = std::fs::read(&record).unwrap();
    assert!(
        on_disk.len() < expected.len() && on_disk.ends_with(b"\n"),
        "while full: {} of {} bytes, ending with a whole line",
        on_disk.len(),
        expected.len()
    );
    std::fs::remove_file(&filler).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("note: the session record cannot be written"),
        "{said}"
    );
    assert!(
        said.contains("note: the session record is written again"),
        "{said}"
    );
    assert!(
        std::fs::read(&record).unwrap() == expected,
        "the record is byte for byte the undisturbed one"
    );
}

#[test]
fn a_disk_that_stays_full_ends_with_an_error_and_whole_lines_only() {
    let Some(disk) = small_disk("a_disk_that_stays_full") else {
        return;
    };
    disk.fill(50_000);
    let record = disk.path().join("session.jsonl");
    let out = run(&record).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("could not be written"),
        "{}",
        text(&out)
    );
    let bytes = std::fs::read(&record).unwrap();
    assert!(!bytes.is_empty() && bytes.ends_with(b"\n"));
    let read = bulkhead_engine::Record::read(&record).expect("whole lines read");
    assert!(!read.cut_short && !read.finished());
}

/// Linux refuses to make a file system read-only while a file on it is open for writing, so a
/// record's folder can only be read-only from the start: the run refuses at once, before any
/// lab comes up, and says where and what to do.
#[test]
fn a_read_only_record_folder_is_refused_before_the_session_starts() {
    let test = "a_read_only_record_folder_is_refused";
    let Some(disk) = SmallDisk::mount_with("size=1m,ro") else {
        if std::env::var("BULKHEAD_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("{test}: CI runs as root and must mount a tmpfs");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n=== SKIPPED {test}: mounting a tmpfs needs root ===\n"
        );
        return;
    };
    let record = disk.path().join("session.jsonl");
    let out = run(&record).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("cannot create record {}", record.display())),
        "{said}"
    );
    assert!(said.contains("Read-only file system"), "{said}");
    assert!(said.contains("help:"), "{said}");
    assert!(out.stdout.is_empty(), "no session ran");
}
