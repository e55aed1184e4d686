//! The pages' end-to-end harness: Chromium and Node checked up front, and a
//! `dashboard/e2e/*.mjs` script driven line by line (it prints tags such as
//! `READY …`, `FAIL why`; the test may answer on its stdin).

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::Duration,
};

use tokio::sync::mpsc;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium, Node and the page's node packages, or a panic naming what is
/// missing and how to install it; `test` names the test in that message.
pub fn prerequisites(test: &str) -> (PathBuf, PathBuf) {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    let dashboard = repo_root().join("dashboard");
    let mut missing = Vec::new();
    if !chromium.exists() {
        missing.push(format!("Chromium ({})", chromium.display()));
    }
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push("Node.js (`node`)".to_owned());
    }
    if !dashboard
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("dashboard/node_modules (playwright-core)".to_owned());
    }
    assert!(
        missing.is_empty(),
        "{test} needs {}: run scripts/e2e-setup.sh (./scripts/test.sh runs it) to install them",
        missing.join(", ")
    );
    (chromium, dashboard)
}

/// A running page script: its stdout lines on a channel, its stdin when the
/// test talks to it, killed on drop.
pub struct PageScript {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl PageScript {
    /// Starts `node e2e/<script>` in `dashboard` with `env`; `talk` opens
    /// its stdin for [`Self::say`].
    pub fn start<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        dashboard: &Path,
        script: &str,
        env: impl IntoIterator<Item = (K, V)>,
        talk: bool,
    ) -> std::io::Result<Self> {
        let mut child = Command::new("node")
            .arg(format!("e2e/{script}"))
            .current_dir(dashboard)
            .envs(env)
            .stdin(if talk { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            name: script.to_owned(),
            child,
            stdin,
            lines,
        })
    }

    /// The next line starting with `tag`, within `within`; a `FAIL` line or
    /// the script's end fails the test.
    pub async fn expect(&mut self, tag: &str, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) => panic!("{} printed no {tag} within {within:?}", self.name),
                Ok(None) => {
                    let status = self.child.wait().ok();
                    panic!("{} ended before {tag} ({status:?})", self.name)
                }
                Ok(Some(line)) => {
                    if let Some(why) = line.strip_prefix("FAIL ") {
                        panic!("the page check of {} failed: {why}", self.name);
                    }
                    if let Some(rest) = line.strip_prefix(tag) {
                        return rest.trim().to_owned();
                    }
                    eprintln!("[{}] {line}", self.name);
                }
            }
        }
    }

    /// Sends a line to the script.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started with talk = true");
        writeln!(stdin, "{line}").expect("write to the page script");
        stdin.flush().expect("flush");
    }
}

impl Drop for PageScript {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
