//! `agentlocator find-duplicates`, run as an operator would.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

fn run(root: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_agentlocator"))
        .args(["find-duplicates", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the report is JSON")
}

#[test]
fn identical_files_are_grouped_with_the_copy_to_keep_and_nothing_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, body) in [
        ("server/media_ws.py", "print('real')\n"),
        ("legacy/media_ws.py", "print('real')\n"),
        ("archive/2023/media_ws.py", "print('real')\n"),
        ("server/other.py", "print('other')\n"),
        ("a/empty1.txt", ""),
        ("b/empty2.txt", ""),
        ("target/debug/media_ws.py", "print('real')\n"),
        ("node_modules/x/media_ws.py", "print('real')\n"),
    ] {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    // A symlink loop and an unreadable file must not stop the scan.
    std::os::unix::fs::symlink(root, root.join("server/loop")).unwrap();
    let secret = root.join("server/unreadable.py");
    std::fs::write(&secret, "print('real')\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let running_as_root = std::fs::read(&secret).is_ok();

    let report = run(root);
    let groups = report["duplicates"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{report:#}");
    assert_eq!(groups[0]["keep"], "server/media_ws.py");
    let copies: Vec<&str> = groups[0]["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for expected in ["legacy/media_ws.py", "archive/2023/media_ws.py"] {
        assert!(copies.contains(&expected), "{copies:?}");
    }
    assert!(
        !copies
            .iter()
            .any(|c| c.starts_with("target/") || c.starts_with("node_modules/"))
    );
    assert_eq!(report["empty_files"], 2);
    if !running_as_root {
        assert!(
            report["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["path"] == "server/unreadable.py")
        );
    }
    // Report only: every file is still there.
    assert!(root.join("legacy/media_ws.py").exists());
    assert!(root.join("archive/2023/media_ws.py").exists());
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_tree_without_duplicates_reports_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    std::fs::write(dir.path().join("b.txt"), "b").unwrap();
    let report = run(dir.path());
    assert_eq!(report["duplicates"], Value::Array(vec![]));
    assert_eq!(report["files_scanned"], 2);
}
