//! The deployment examples stay true: the Dockerfile's build step is the release build
//! the repository runs, with a current lock file; the Kubernetes manifest passes kubernetes-validate's
//! schema check (strict), and the fleet command it runs is one the binary accepts and
//! starts with (its flags, on loopback ports).
#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_dockerfile_builds_with_the_release_build() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let runs: Vec<&str> = text.lines().filter(|l| l.starts_with("RUN ")).collect();
    assert_eq!(runs[0], "RUN cargo build --release -p sim5360 --locked", "{runs:?}");
    // The lock file is current, so `--locked` builds.
    let st = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "Cargo.lock is not current");
    assert!(text.contains("COPY --from=build /src/target/release/sim5360 /usr/local/bin/sim5360"));
}

#[test]
fn the_kubernetes_example_validates_and_its_command_runs() {
    let venv = testbench::process::venv_python().unwrap();
    let validate = venv.parent().unwrap().join("kubernetes-validate");
    let manifest = root().join("deploy/k8s/fleet.yaml");
    let out = Command::new(&validate)
        .arg("--strict")
        .arg(&manifest)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/install-deps.sh)", validate.display()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("passed for resource").count(), 4, "{text}");

    // The StatefulSet's command, with pod 0's index and loopback addresses.
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    let start = yaml.find("exec sim5360 ").unwrap() + "exec sim5360 ".len();
    let end = yaml[start..].find("\n          ports:").unwrap() + start;
    let line = yaml[start..end].split_whitespace().collect::<Vec<_>>().join(" ");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let line = line
        .replace("$((15550000000 + POD_INDEX * 100))", "15550000000")
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("--tcp 127.0.0.1:5360", "--tcp 127.0.0.1:0")
        .replace("--control 127.0.0.1:8080", "--control 127.0.0.1:0")
        .replace("mqtt://sim5360-broker:1883", "mqtt://127.0.0.1:9")
        .replace("/data/", &format!("{d}/"));
    let args: Vec<&str> = line.split(' ').collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim5360"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ready = 0;
    for _ in 0..100 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l:?} from {args:?}"));
        assert!(v["tcp"].is_string() && v["msisdn"].is_string(), "{v}");
        ready += 1;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ready, 100);
}
