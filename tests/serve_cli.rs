//! End-to-end tests of `mapfix serve`: the real binary, a real TCP client, real signals.
//! (`tests/interop/gpsd.sh` checks the same feed through gpsd.)

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the mapfix binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = mapfix(&[
        "serve",
        "fixtures/demo-drive",
        "--map",
        "maps/demo-town.geojson",
        "--listen",
        &addr,
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(&format!("cannot listen on {addr}: the port is in use")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn stdin_needs_a_camera_file() {
    let output = mapfix(&[
        "serve",
        "-",
        "--map",
        "maps/demo-town.geojson",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("reading H.264 from stdin needs --camera"),
        "{}",
        stderr(&output)
    );
}

/// A running `mapfix serve` and its standard error, line by line.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mapfix"))
            .arg("serve")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mapfix binary runs");
        let (sender, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    /// The next line of its standard error that contains `text`.
    fn wait_for(&self, text: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let Ok(line) = self.lines.recv_timeout(Duration::from_secs(300)) else {
                panic!(
                    "mapfix serve never said '{text}'; it said:\n{}",
                    seen.join("\n")
                );
            };
            if line.contains(text) {
                return line;
            }
            seen.push(line);
        }
    }
}

/// Checks a sentence's checksum and returns its fields.
fn fields(sentence: &str) -> Vec<&str> {
    let (body, checksum) = sentence
        .strip_prefix('$')
        .and_then(|s| s.split_once('*'))
        .unwrap_or_else(|| panic!("not a sentence: {sentence}"));
    let sum = body.bytes().fold(0u8, |x, b| x ^ b);
    assert_eq!(format!("{sum:02X}"), checksum, "{sentence}");
    body.split(',').collect()
}

#[test]
fn a_client_gets_valid_sentences_live_and_sigterm_stops_cleanly() {
    let server = Server::start(&[
        "fixtures/demo-drive",
        "--map",
        "maps/demo-town.geojson",
        "--listen",
        "127.0.0.1:0",
        "--realtime",
    ]);
    let listening = server.wait_for("listening on ");
    let addr = listening.rsplit(' ').next().unwrap().to_owned();
    let mut client = TcpStream::connect(&addr).unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        client.read_to_string(&mut text).unwrap();
        text
    });
    // Three seconds of the drive, then a stop request as a service manager sends it.
    std::thread::sleep(Duration::from_secs(3));
    let pid = server.child.id() as libc::pid_t;
    // SAFETY: kill() on the pid of our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let processed = server.wait_for("frames processed");
    assert!(processed.contains("stopped by signal"), "{processed}");
    let latency = server.wait_for("latency frame arrival → sentences queued");
    assert!(latency.contains("p95"), "{latency}");
    let mut child = server.child;
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    // The connection was closed by the server (read_to_string returned), and every epoch
    // is whole: GGA, RMC and VTG always, GST and HDT with a fix.
    let text = reader.join().unwrap();
    let sentences: Vec<&str> = text.split_terminator("\r\n").collect();
    assert!(!sentences.is_empty(), "no sentences in three seconds");
    let mut last_time = -1.0;
    for sentence in &sentences {
        let fields = fields(sentence);
        if fields[0] == "GPGGA" {
            let time: f64 = fields[1].parse().unwrap();
            assert!(time > last_time, "GGA times go back: {sentence}");
            last_time = time;
            assert!(["0", "1", "2", "6"].contains(&fields[6]), "{sentence}");
        }
    }
    assert!(sentences[0].starts_with("$GPGGA,"), "{}", sentences[0]);
    assert!(
        sentences.last().unwrap().starts_with("$GPVTG")
            || sentences.last().unwrap().starts_with("$GPHDT")
    );
}
