//! NMEA over TCP, the way GNSS receivers and gpsd feed navigation apps: a server that sends
//! every epoch of sentences to every connected client.
//!
//! Each client has its own writer thread and a bounded queue of epochs. The producer only
//! ever puts an epoch in each queue without waiting: a client whose queue is full (it reads
//! too slowly, or not at all) is dropped and its socket shut, so it never holds up the
//! producer or the other clients. A client gets every epoch broadcast after it connected,
//! whole epochs only. Shutting the server down sends what is queued (within the write
//! timeout) and closes every connection.

use std::io::{ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: the port is in use (another mapfix serve or gpsd?)")]
    PortInUse { addr: String },
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// Epochs a client may fall behind before it is dropped (64 is about 2 s at 30 fps).
    pub queue_epochs: usize,
    /// How long one write to a client may block before the client is dropped.
    pub write_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            queue_epochs: 64,
            write_timeout: Duration::from_secs(2),
        }
    }
}

/// Counts of clients over the server's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Clients accepted.
    pub connected: usize,
    /// Clients dropped because their queue was full.
    pub dropped_slow: usize,
    /// Clients gone because a write failed or timed out (closed by the peer, or stalled).
    pub disconnected: usize,
}

/// One epoch's sentences and when the frame behind them arrived.
#[derive(Clone)]
struct Epoch {
    bytes: Arc<[u8]>,
    arrived: Instant,
}

struct Client {
    queue: SyncSender<Epoch>,
    /// A handle on the socket to shut it down from the producer's side.
    stream: TcpStream,
    /// Set by the producer when it drops the client as slow.
    dropped: Arc<AtomicBool>,
    writer: JoinHandle<()>,
}

struct Shared {
    clients: Mutex<Vec<Client>>,
    /// Writer threads of dropped clients, joined at shutdown.
    retired: Mutex<Vec<JoinHandle<()>>>,
    stop: AtomicBool,
    connected: AtomicUsize,
    dropped_slow: AtomicUsize,
    disconnected: AtomicUsize,
    latency: Mutex<LatencyHistogram>,
    options: ServerOptions,
}

/// Poisoning only means another thread panicked while holding the lock; the lists stay
/// usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct NmeaServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(10);

impl NmeaServer {
    /// Listens on `addr` (port 0 picks a free port: see `local_addr`).
    pub fn bind(
        addr: impl ToSocketAddrs + std::fmt::Display,
        options: ServerOptions,
    ) -> Result<NmeaServer, ServeError> {
        let name = addr.to_string();
        let listener = TcpListener::bind(&addr).map_err(|source| {
            if source.kind() == ErrorKind::AddrInUse {
                ServeError::PortInUse { addr: name.clone() }
            } else {
                ServeError::Listen {
                    addr: name.clone(),
                    source,
                }
            }
        })?;
        let listen_error = |source| ServeError::Listen {
            addr: name.clone(),
            source,
        };
        let local_addr = listener.local_addr().map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        let shared = Arc::new(Shared {
            clients: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            connected: AtomicUsize::new(0),
            dropped_slow: AtomicUsize::new(0),
            disconnected: AtomicUsize::new(0),
            latency: Mutex::new(LatencyHistogram::default()),
            options,
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("nmea-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .map_err(listen_error)?
        };
        Ok(NmeaServer {
            local_addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Queues one epoch (whole sentences with their CR LF) for every client, without
    /// waiting for any; `arrived` is when the frame behind it arrived, for the latency
    /// figures. Returns the number of clients it was queued for.
    pub fn broadcast(&self, epoch: &[u8], arrived: Instant) -> usize {
        let epoch = Epoch {
            bytes: Arc::from(epoch),
            arrived,
        };
        let mut clients = lock(&self.shared.clients);
        let mut index = 0;
        while index < clients.len() {
            match clients[index].queue.try_send(epoch.clone()) {
                Ok(()) => index += 1,
                Err(full_or_gone) => {
                    let client = clients.swap_remove(index);
                    if let TrySendError::Full(_) = full_or_gone {
                        self.shared.dropped_slow.fetch_add(1, Ordering::Relaxed);
                        client.dropped.store(true, Ordering::Relaxed);
                        // Unblocks its writer if it is stuck in a write.
                        let _ = client.stream.shutdown(Shutdown::Both);
                    }
                    // (Disconnected: the writer ended after a failed write and counted it.)
                    let mut retired = lock(&self.shared.retired);
                    retired.retain(|w| !w.is_finished());
                    retired.push(client.writer);
                }
            }
        }
        clients.len()
    }

    /// Clients connected now.
    pub fn client_count(&self) -> usize {
        lock(&self.shared.clients).len()
    }

    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connected: self.shared.connected.load(Ordering::Relaxed),
            dropped_slow: self.shared.dropped_slow.load(Ordering::Relaxed),
            disconnected: self.shared.disconnected.load(Ordering::Relaxed),
        }
    }

    /// Frame arrival → epoch written into a client's socket, over every client and epoch.
    pub fn latency(&self) -> LatencyHistogram {
        lock(&self.shared.latency).clone()
    }

    /// Stops accepting, lets every writer send what is queued, closes all connections and
    /// joins every thread.
    pub fn shutdown(mut self) -> ServerStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let clients = std::mem::take(&mut *lock(&self.shared.clients));
        // Closing every queue first lets all writers send what is queued at once; each
        // ends then (or after its write timeout).
        let writers: Vec<_> = clients
            .into_iter()
            .map(|client| {
                drop(client.queue);
                (client.writer, client.stream)
            })
            .collect();
        for (writer, stream) in writers {
            let _ = writer.join();
            let _ = stream.shutdown(Shutdown::Both);
        }
        for writer in std::mem::take(&mut *lock(&self.shared.retired)) {
            let _ = writer.join();
        }
    }
}

impl Drop for NmeaServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _peer)) => add_client(stream, shared),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            // A connection that failed while being accepted (reset, out of descriptors for
            // a moment) concerns that client only; the server keeps listening.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

fn add_client(stream: TcpStream, shared: &Arc<Shared>) {
    let setup = (|| {
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(shared.options.write_timeout))?;
        stream.try_clone()
    })();
    let Ok(handle) = setup else {
        return;
    };
    let (queue, epochs) = sync_channel(shared.options.queue_epochs);
    let dropped = Arc::new(AtomicBool::new(false));
    let writer = {
        let shared = Arc::clone(shared);
        let dropped = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("nmea-client".into())
            .spawn(move || write_loop(stream, &epochs, &shared, &dropped))
    };
    let Ok(writer) = writer else {
        return;
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    lock(&shared.clients).push(Client {
        queue,
        stream: handle,
        dropped,
        writer,
    });
}

fn write_loop(
    mut stream: TcpStream,
    epochs: &Receiver<Epoch>,
    shared: &Shared,
    dropped: &AtomicBool,
) {
    for epoch in epochs {
        if stream.write_all(&epoch.bytes).is_err() {
            // A client dropped as slow (its socket shut by the producer) is counted there.
            if !dropped.load(Ordering::Relaxed) {
                shared.disconnected.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        lock(&shared.latency).record(epoch.arrived.elapsed());
    }
}

/// Latencies in 0.1 ms bins up to 10 s (longer ones count in the last bin): constant
/// memory however long the feed runs.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    bins: Vec<u64>,
    count: u64,
}

const BIN: Duration = Duration::from_micros(100);
const BINS: usize = 100_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            bins: vec![0; BINS],
            count: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        let bin = (latency.as_micros() / BIN.as_micros()).min(BINS as u128 - 1) as usize;
        self.bins[bin] += 1;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency below which `fraction` (0‥1) of the samples lie, to the bin's upper
    /// edge; `None` without samples.
    pub fn percentile(&self, fraction: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((fraction.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        let bin = self.bins.iter().position(|&n| {
            seen += n;
            seen >= rank
        })?;
        Some(BIN * (bin as u32 + 1))
    }
}

#[cfg(test)]
mod tests;
