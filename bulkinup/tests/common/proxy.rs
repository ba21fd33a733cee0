//! A TCP proxy in front of a real database server, with a switch that stalls it: a network
//! (or a server) that stops answering in the middle of a call, for the tests of the
//! client's deadlines. Triggers — bytes a client sends — stall the proxy, or only the
//! connection that sent them, close that connection, or hold what carries them back for a
//! while: a server that hangs, drops or is slow on one query.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A proxy on a free port of 127.0.0.1 that forwards every connection to a server until it
/// is stalled: from then on it forwards nothing in either direction — what either side sends
/// is read and dropped, every connection is held open, and new connections are accepted
/// and never answered — as a frozen server or a broken network looks to the client. It runs
/// on a thread of its own (with its own runtime), so a test may block on a child process
/// while it works. Dropping it closes every connection, so that the server sees its
/// sessions end (and rolls back what they left open).
pub struct StallProxy {
    /// Where the proxy listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the proxy does when a client sends a trigger's bytes.
#[derive(Debug, Clone, Copy)]
enum OnTrigger {
    /// Stalls every connection, and every one opened later; the bytes are not forwarded.
    Stall,
    /// Stalls the connection that sent them only (the bytes are not forwarded); the others,
    /// and those opened later, are forwarded as before.
    StallConnection,
    /// Closes the connection that sent them, both ends, without forwarding them.
    Close,
    /// Forwards them after this long.
    Delay(Duration),
}

#[derive(Default)]
struct State {
    /// Whether connections opened from now on are stalled.
    stall_new: AtomicBool,
    /// The stall switch of every connection so far.
    connections: Mutex<Vec<Arc<AtomicBool>>>,
    /// Bytes that, sent by a client, make the proxy act.
    triggers: Mutex<Vec<(Vec<u8>, OnTrigger)>>,
    /// How many times a trigger's bytes were sent.
    triggered: AtomicUsize,
    /// Connections whose client closed its end.
    closed_by_client: AtomicUsize,
}

impl State {
    fn stall(&self) {
        self.stall_new.store(true, Ordering::SeqCst);
        for c in self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            c.store(true, Ordering::SeqCst);
        }
    }
}

impl StallProxy {
    /// A proxy forwarding to the server of `url` (`scheme://user@HOST:PORT/…`).
    pub fn start(url: &str) -> StallProxy {
        let target = authority(url).1.to_string();
        let state = Arc::new(State::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the proxy's runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(serve(client, target.clone(), Arc::clone(&shared)));
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection's task, closing its sockets.
        });
        StallProxy {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `url` with its host and port replaced by the proxy's, and TLS turned off: the proxy
    /// reads what the client sends to find the bytes it stalls on ([`StallProxy::stall_on`]),
    /// which TLS (the drivers' default where the server offers it) would hide.
    pub fn url(&self, url: &str) -> String {
        let (start, hostport) = authority(url);
        let url = format!(
            "{}{}{}",
            &url[..start],
            self.addr,
            &url[start + hostport.len()..]
        );
        let plaintext = match url.starts_with("postgres") {
            true => "sslmode=disable",
            false => "ssl-mode=DISABLED",
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{plaintext}")
    }

    /// Stalls every connection now, and every one opened later.
    pub fn stall(&self) {
        self.state.stall();
    }

    /// Stalls the proxy when a client sends `bytes` (e.g. the name of a table in the
    /// statement that writes it): the data carrying them is not forwarded.
    pub fn stall_on(&self, bytes: &[u8]) {
        self.on(bytes, OnTrigger::Stall);
    }

    /// Stalls the connection that sends `bytes`, and only it: the data carrying them is
    /// not forwarded, nothing more is in either direction, and every other connection
    /// (those opened later too) is forwarded as before.
    pub fn stall_connection_on(&self, bytes: &[u8]) {
        self.on(bytes, OnTrigger::StallConnection);
    }

    /// Closes the connection that sends `bytes` (its client's end and the server's),
    /// without forwarding them: a server or network that drops the session.
    pub fn close_on(&self, bytes: &[u8]) {
        self.on(bytes, OnTrigger::Close);
    }

    /// Holds the data carrying `bytes` back for `delay` before forwarding it: a slow answer.
    pub fn delay_on(&self, bytes: &[u8], delay: Duration) {
        self.on(bytes, OnTrigger::Delay(delay));
    }

    fn on(&self, bytes: &[u8], action: OnTrigger) {
        self.state
            .triggers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((bytes.to_vec(), action));
    }

    /// Forwards connections opened from now on, and forgets the triggers; those already
    /// stalled stay stalled.
    pub fn resume_new(&self) {
        self.state.stall_new.store(false, Ordering::SeqCst);
        self.state
            .triggers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether the proxy was stalled.
    pub fn stalled(&self) -> bool {
        self.state.stall_new.load(Ordering::SeqCst)
    }

    /// How many times a client sent a trigger's bytes so far.
    pub fn triggered(&self) -> usize {
        self.state.triggered.load(Ordering::SeqCst)
    }

    /// How many connections their client has closed so far.
    pub fn closed(&self) -> usize {
        self.state.closed_by_client.load(Ordering::SeqCst)
    }

    /// How many connections their client has closed, waiting up to `limit` for at least
    /// `n` of them.
    pub fn closed_by_client(&self, n: usize, limit: Duration) -> usize {
        let start = Instant::now();
        loop {
            let closed = self.state.closed_by_client.load(Ordering::SeqCst);
            if closed >= n || start.elapsed() > limit {
                return closed;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The byte offset and text of `HOST:PORT` in `scheme://user@HOST:PORT/…`.
fn authority(url: &str) -> (usize, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let host_at = auth.rfind('@').map_or(0, |i| i + 1);
    (after_scheme + host_at, &auth[host_at..])
}

/// One client connection: forwarded to the server until its switch is set.
async fn serve(client: TcpStream, target: String, state: Arc<State>) {
    let stalled = Arc::new(AtomicBool::new(state.stall_new.load(Ordering::SeqCst)));
    state
        .connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&stalled));
    let (client_read, client_write) = client.into_split();
    if stalled.load(Ordering::SeqCst) {
        // Accepted and never answered; the client's end is watched for its close.
        drain(client_read, &state, true).await;
        drop(client_write);
        return;
    }
    let Ok(server) = TcpStream::connect(&target).await else {
        return;
    };
    let (server_read, server_write) = server.into_split();
    let close = tokio::sync::Notify::new();
    let up = pump(
        client_read,
        server_write,
        Arc::clone(&stalled),
        Arc::clone(&state),
        Some(&close),
    );
    let down = pump(server_read, client_write, stalled, Arc::clone(&state), None);
    // Returning drops both ends' sockets, which closes them.
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        () = close.notified() => {}
    }
}

/// Forwards `from` to `to` until the switch is set, then reads and drops what `from` sends.
/// From the client (with the connection's `close`), each read is checked for the triggers.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
    state: Arc<State>,
    close: Option<&tokio::sync::Notify>,
) {
    let from_client = close.is_some();
    let mut buf = vec![0u8; 64 * 1024];
    // The end of what came before, for a trigger split across two reads.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if from_client {
                    state.closed_by_client.fetch_add(1, Ordering::SeqCst);
                }
                if !stalled.load(Ordering::SeqCst) {
                    let _ = to.shutdown().await;
                } else {
                    // Stalled: the other side learns nothing, not even the close.
                    std::future::pending::<()>().await;
                }
                return;
            }
            Ok(n) => n,
        };
        if let Some(close) = close {
            let triggers = state
                .triggers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let before = tail.len();
            let mut seen = std::mem::take(&mut tail);
            seen.extend_from_slice(&buf[..n]);
            for (t, action) in triggers.iter().filter(|(t, _)| !t.is_empty()) {
                // A match that ends in this read's bytes (one wholly in the tail was seen).
                let found = seen
                    .windows(t.len())
                    .enumerate()
                    .any(|(at, w)| at + t.len() > before && w == t.as_slice());
                if !found {
                    continue;
                }
                state.triggered.fetch_add(1, Ordering::SeqCst);
                match action {
                    OnTrigger::Stall => state.stall(),
                    OnTrigger::StallConnection => stalled.store(true, Ordering::SeqCst),
                    OnTrigger::Close => {
                        close.notify_one();
                        return;
                    }
                    OnTrigger::Delay(delay) => tokio::time::sleep(*delay).await,
                }
            }
            let longest = triggers.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
            let keep = seen.len().saturating_sub(longest.saturating_sub(1));
            tail = seen.split_off(keep);
        }
        if stalled.load(Ordering::SeqCst) {
            continue; // dropped
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads and drops what a stalled connection's client sends, until it closes.
async fn drain(mut from: OwnedReadHalf, state: &State, from_client: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    if from_client {
        state.closed_by_client.fetch_add(1, Ordering::SeqCst);
    }
}
