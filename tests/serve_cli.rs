//! End-to-end tests of `mapfix serve`: the real binary, a real TCP client, real signals.
//! (`tests/interop/gpsd.sh` checks the same feed through gpsd.)

use std::net::TcpListener;
use std::process::{Command, Output};

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
