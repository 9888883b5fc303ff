#![allow(dead_code)]
//! Child processes of a test: killed when the test ends, however it ends,
//! on ports nobody else holds.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Waits until something listens on `port`; fails with `log`'s text after 30 s.
pub fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} never listened on {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `command` with no input and both outputs into the file `log`.
pub fn spawn_logged(command: &mut std::process::Command, log: &Path) -> Process {
    let file = std::fs::File::create(log).expect("a log file");
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().expect("the log file"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
    Process(child)
}
