//! Per-frame cost of the outputs: one NMEA epoch, one record through all five track
//! files, and one epoch queued for 20 TCP clients (the producer's side of `mapfix serve`).

use mapfix_core::{FixSource, Geodetic, Vec3};
use mapfix_io::{Fix, GnssStatus, NmeaServer, PositionRecord, ServerOptions, Sigma, TrackOutputs};
use std::io::Read;
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    divan::main();
}

fn record(frame: u64) -> PositionRecord {
    let time_s = frame as f64 / 30.0;
    PositionRecord {
        frame,
        time_s,
        utc_s: Some(1_718_964_000.0 + time_s),
        fix: Some(Fix {
            source: FixSource::Fused,
            position: Geodetic::from_degrees(49.0 + 1e-6 * frame as f64, 8.4, 115.0),
            local: Vec3::new(0.0, 0.1 * frame as f64, 0.0),
            heading: 0.3,
            speed: Some(12.0),
            sigma: Sigma {
                east: 0.12,
                north: 0.25,
                up: 0.4,
                east_north_correlation: 0.3,
                heading: Some(0.004),
            },
            landmarks: 5,
        }),
        gnss: GnssStatus::Used,
    }
}

#[divan::bench]
fn nmea_epoch(bencher: divan::Bencher) {
    let record = record(7);
    let mut text = String::new();
    bencher.bench_local(|| {
        text.clear();
        mapfix_io::nmea::write_epoch(&record, &mut text);
        text.len()
    });
}

#[divan::bench]
fn track_outputs_one_frame(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = TrackOutputs::create(dir.path()).unwrap();
    let mut frame = 0;
    bencher.bench_local(|| {
        outputs.write(&record(frame)).unwrap();
        frame += 1;
    });
}

/// 1000 epochs in all, each client's queue long enough to hold them: what is measured is
/// the producer's cost, not a race it would win against the readers.
#[divan::bench(sample_count = 100, sample_size = 10)]
fn broadcast_to_20_clients(bencher: divan::Bencher) {
    let options = ServerOptions {
        queue_epochs: 4096,
        ..ServerOptions::default()
    };
    let server = NmeaServer::bind("127.0.0.1:0", options).unwrap();
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(server.local_addr()).unwrap();
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
            })
        })
        .collect();
    while server.client_count() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut epoch = String::new();
    mapfix_io::nmea::write_epoch(&record(1), &mut epoch);
    bencher.bench_local(|| server.broadcast(epoch.as_bytes(), Instant::now()));
    let stats = server.shutdown();
    assert_eq!(
        stats.dropped_slow, 0,
        "a reader fell behind during the benchmark"
    );
    for reader in readers {
        reader.join().unwrap();
    }
}
