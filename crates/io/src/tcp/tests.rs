//! Real sockets on the loopback interface.

use super::*;
use std::io::Read;
use std::sync::mpsc;

/// Waits (polling) until `done` holds, failing after a generous deadline: these waits are
/// for threads to get scheduled, not measurements.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn connect(server: &NmeaServer, clients: usize) -> Vec<TcpStream> {
    let before = server.client_count();
    let streams: Vec<_> = (0..clients)
        .map(|_| TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    wait_until("the server accepted every client", || {
        server.client_count() == before + clients
    });
    streams
}

fn epoch(i: usize) -> Vec<u8> {
    format!("$GPTXT,01,01,02,epoch {i}*00\r\n").into_bytes()
}

fn read_to_end(mut stream: TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    received
}

#[test]
fn twenty_clients_get_every_epoch_and_shutdown_sends_what_is_queued() {
    let server = NmeaServer::bind("127.0.0.1:0", ServerOptions::default()).unwrap();
    let clients = connect(&server, 20);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|c| std::thread::spawn(move || read_to_end(c)))
        .collect();
    let mut expected = Vec::new();
    for i in 0..50 {
        assert_eq!(server.broadcast(&epoch(i), Instant::now()), 20);
        expected.extend(epoch(i));
    }
    let stats = server.shutdown();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), expected);
    }
    assert_eq!(
        stats,
        ServerStats {
            connected: 20,
            dropped_slow: 0,
            disconnected: 0
        }
    );
}

#[test]
fn a_client_gets_whole_epochs_from_the_moment_it_connects() {
    let server = NmeaServer::bind("127.0.0.1:0", ServerOptions::default()).unwrap();
    let early = connect(&server, 1).pop().unwrap();
    let early = std::thread::spawn(move || read_to_end(early));
    for i in 0..10 {
        server.broadcast(&epoch(i), Instant::now());
    }
    let late = connect(&server, 1).pop().unwrap();
    let late = std::thread::spawn(move || read_to_end(late));
    for i in 10..20 {
        server.broadcast(&epoch(i), Instant::now());
    }
    server.shutdown();
    assert_eq!(
        early.join().unwrap(),
        (0..20).flat_map(epoch).collect::<Vec<_>>()
    );
    assert_eq!(
        late.join().unwrap(),
        (10..20).flat_map(epoch).collect::<Vec<_>>()
    );
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_the_others_get_everything() {
    const EPOCHS: usize = 800;
    const EPOCH_BYTES: usize = 64 * 1024;
    let options = ServerOptions {
        queue_epochs: 256,
        ..ServerOptions::default()
    };
    let server = Arc::new(NmeaServer::bind("127.0.0.1:0", options).unwrap());
    let mut clients = connect(&server, 2);
    let reader = clients.pop().unwrap();
    // Connected, never read: once the socket buffers and its queue are full it must go.
    let _stalled = clients.pop().unwrap();
    let reader = std::thread::spawn(move || read_to_end(reader));
    let payload = |i: usize| vec![b'a' + (i % 26) as u8; EPOCH_BYTES];

    // The producer runs on its own thread: were it to block on the stalled client, it
    // would never report done, and the test fails at the deadline instead of hanging.
    let (done, finished) = mpsc::channel();
    let producer = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            let mut receivers = Vec::new();
            for i in 0..EPOCHS {
                receivers.push(server.broadcast(&payload(i), Instant::now()));
                // A feed paced like a camera, a little faster.
                std::thread::sleep(Duration::from_millis(2));
            }
            done.send(receivers).unwrap();
        })
    };
    let receivers = finished
        .recv_timeout(Duration::from_secs(120))
        .expect("the producer was held up by the stalled client");
    producer.join().unwrap();
    assert_eq!(receivers[0], 2);
    assert_eq!(
        *receivers.last().unwrap(),
        1,
        "the stalled client was not dropped"
    );
    let server = Arc::into_inner(server).unwrap();
    let stats = server.shutdown();
    assert_eq!(stats.dropped_slow, 1);
    let received = reader.join().unwrap();
    assert_eq!(received.len(), EPOCHS * EPOCH_BYTES);
    assert!(received
        .chunks(EPOCH_BYTES)
        .enumerate()
        .all(|(i, chunk)| chunk == payload(i).as_slice()));
}

#[test]
fn a_client_that_hangs_up_is_removed() {
    let server = NmeaServer::bind("127.0.0.1:0", ServerOptions::default()).unwrap();
    let mut clients = connect(&server, 2);
    drop(clients.pop());
    let mut i = 0;
    wait_until("the closed client is gone", || {
        i += 1;
        server.broadcast(&epoch(i), Instant::now()) == 1
    });
    assert_eq!(server.stats().disconnected, 1);
    assert_eq!(server.client_count(), 1);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let error = NmeaServer::bind(addr.as_str(), ServerOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        format!("cannot listen on {addr}: the port is in use (another mapfix serve or gpsd?)")
    );
    let error = NmeaServer::bind("192.0.2.1:10110", ServerOptions::default())
        .err()
        .unwrap();
    assert!(matches!(error, ServeError::Listen { .. }), "{error:?}");
}

#[test]
fn latency_percentiles_come_from_the_histogram() {
    let mut histogram = LatencyHistogram::default();
    assert_eq!(histogram.percentile(0.5), None);
    for ms in 1..=100 {
        histogram.record(Duration::from_millis(ms));
    }
    histogram.record(Duration::from_secs(60));
    assert_eq!(histogram.count(), 101);
    assert_eq!(
        histogram.percentile(0.5),
        Some(Duration::from_micros(51_100))
    );
    assert_eq!(
        histogram.percentile(0.0),
        Some(Duration::from_micros(1_100))
    );
    assert_eq!(histogram.percentile(1.0), Some(Duration::from_secs(10)));
}

#[test]
fn the_server_measures_arrival_to_sent() {
    let server = NmeaServer::bind("127.0.0.1:0", ServerOptions::default()).unwrap();
    let client = connect(&server, 1).pop().unwrap();
    let reader = std::thread::spawn(move || read_to_end(client));
    let arrived = Instant::now() - Duration::from_millis(40);
    server.broadcast(&epoch(0), arrived);
    wait_until("the epoch was sent", || server.latency().count() == 1);
    let p50 = server.latency().percentile(0.5).unwrap();
    assert!(p50 >= Duration::from_millis(40), "{p50:?}");
    server.shutdown();
    reader.join().unwrap();
}
