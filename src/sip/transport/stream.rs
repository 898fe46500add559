//! TCP and TLS connections: the table of open ones (one per remote address
//! and protocol, shared by every call to it), and the task that runs each:
//! connect (and handshake), then read frames and write queued messages
//! until the connection fails. A failed connection leaves the table, so the
//! next send opens a new one; the calls that sent on it are told.

use super::framing::{Frame, Framer};
use super::{Protocol, Remote, Transport, TransportFailure};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Time for the TCP connect and the TLS handshake together. A refused
/// connection fails at once; this bounds a silent one, well inside Timer B
/// (32 s with the default T1).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes queued on one connection and not yet written: past this the peer
/// is not reading, and sends fail instead of growing memory.
const MAX_QUEUED: usize = 16 * 1024 * 1024;
/// Connections accepted from others at once; more are closed on accept.
const MAX_INBOUND: usize = 1024;
/// An accepted connection that carries nothing for this long is closed.
/// Connections we opened to a trunk stay open while the trunk keeps them.
const INBOUND_IDLE: Duration = Duration::from_secs(300);
/// Read buffer of a connection.
const READ_CHUNK: usize = 16 * 1024;
/// Largest batch of queued messages written with one call.
const WRITE_BATCH: usize = 64 * 1024;

type Key = (SocketAddr, Protocol);

/// The open connections, and the listener until the acceptor takes it.
pub(super) struct Streams {
    /// A std Mutex: never held across an await.
    conns: Mutex<HashMap<Key, Conn>>,
    next_id: AtomicU64,
    inbound: AtomicUsize,
    listener: Mutex<Option<std::net::TcpListener>>,
}

/// A handle on one connection: its id and its write queue.
#[derive(Clone)]
pub(super) struct Conn {
    id: u64,
    addr: SocketAddr,
    protocol: Protocol,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
}

impl Conn {
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Queue `bytes` for the writer.
    pub(super) fn queue(&self, bytes: Vec<u8>) -> Result<(), TransportFailure> {
        let len = bytes.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Err(self.send_failure("the peer is not reading (send queue full)"));
        }
        self.tx.send(bytes).map_err(|_| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.send_failure("the connection failed")
        })
    }

    fn send_failure(&self, reason: &str) -> TransportFailure {
        TransportFailure::Send {
            addr: self.addr,
            protocol: self.protocol,
            reason: reason.to_string(),
        }
    }
}

/// Bind the TCP listener (SO_REUSEADDR, so a restart does not wait for
/// TIME_WAIT).
pub(super) fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

impl Streams {
    pub(super) fn new(listener: Option<std::net::TcpListener>) -> Streams {
        Streams {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            inbound: AtomicUsize::new(0),
            listener: Mutex::new(listener),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.conns.lock().expect("conns lock").len()
    }

    /// The open connection to `to`, or a new one being opened. A TLS
    /// remote without a client cannot be opened (a response whose
    /// connection is gone).
    pub(super) fn get_or_open(
        &self,
        transport: &Transport,
        to: &Remote,
    ) -> Result<Conn, TransportFailure> {
        let key = (to.addr, to.protocol);
        let mut conns = self.conns.lock().expect("conns lock");
        if let Some(conn) = conns.get(&key).filter(|c| !c.tx.is_closed()) {
            return Ok(conn.clone());
        }
        if to.protocol == Protocol::Tls && to.tls.is_none() {
            return Err(TransportFailure::NoConnection {
                addr: to.addr,
                protocol: to.protocol,
            });
        }
        let (conn, rx) = self.new_conn(key);
        conns.insert(key, conn.clone());
        drop(conns);
        transport
            .stats
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(run_outbound(
            transport.clone(),
            to.clone(),
            conn.clone(),
            rx,
        ));
        Ok(conn)
    }

    fn new_conn(&self, (addr, protocol): Key) -> (Conn, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            addr,
            protocol,
            tx,
            queued: Arc::default(),
        };
        (conn, rx)
    }

    /// Take `conn` out of service: refuse further sends on it, drop what is
    /// still queued, and forget it (unless a newer connection to the same
    /// remote took its place). The caller then tells the calls.
    fn retire(&self, conn: &Conn, rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) {
        rx.close();
        while rx.try_recv().is_ok() {}
        let key = (conn.addr, conn.protocol);
        let mut conns = self.conns.lock().expect("conns lock");
        if conns.get(&key).is_some_and(|c| c.id == conn.id) {
            conns.remove(&key);
        }
    }
}

/// Open the connection to `to`, then serve it until it fails.
async fn run_outbound(
    transport: Transport,
    to: Remote,
    conn: Conn,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let from = Remote {
        tls: None,
        ..to.clone()
    };
    let connect_failure = |reason: String| TransportFailure::Connect {
        addr: to.addr,
        protocol: to.protocol,
        reason,
    };
    let failure = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&to)).await {
        Err(_) => connect_failure(format!("no answer within {CONNECT_TIMEOUT:?}")),
        Ok(Err(failure)) => failure,
        Ok(Ok(Connected::Tcp(tcp))) => serve(&transport, tcp, &from, &conn, &mut rx, None).await,
        Ok(Ok(Connected::Tls(tls))) => serve(&transport, *tls, &from, &conn, &mut rx, None).await,
    };
    finish(&transport, &conn, &mut rx, failure);
}

enum Connected {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn connect(to: &Remote) -> Result<Connected, TransportFailure> {
    let tcp = TcpStream::connect(to.addr)
        .await
        .map_err(|e| TransportFailure::Connect {
            addr: to.addr,
            protocol: to.protocol,
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    match &to.tls {
        None => Ok(Connected::Tcp(tcp)),
        Some(client) => client
            .handshake(tcp)
            .await
            .map(|s| Connected::Tls(Box::new(s)))
            .map_err(|e| TransportFailure::Handshake {
                addr: to.addr,
                reason: e.to_string(),
            }),
    }
}

fn finish(
    transport: &Transport,
    conn: &Conn,
    rx: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    failure: TransportFailure,
) {
    tracing::info!(id = conn.id, error = %failure, "SIP connection ended");
    transport.streams.retire(conn, rx);
    transport.stream_failed(conn.id, &failure);
}

/// Accept TCP connections on the listener bound with the UDP socket.
pub(super) fn spawn_acceptor(transport: Transport) {
    let Some(std_listener) = transport
        .streams
        .listener
        .lock()
        .expect("listener lock")
        .take()
    else {
        return;
    };
    tokio::spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => return tracing::error!(error = %e, "SIP TCP listener failed"),
        };
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let streams = &transport.streams;
            if streams.inbound.fetch_add(1, Ordering::Relaxed) >= MAX_INBOUND {
                streams.inbound.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(%peer, "too many inbound SIP connections; closed");
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let key = (peer, Protocol::Tcp);
            let (conn, rx) = streams.new_conn(key);
            streams
                .conns
                .lock()
                .expect("conns lock")
                .insert(key, conn.clone());
            transport
                .stats
                .connections_opened
                .fetch_add(1, Ordering::Relaxed);
            tokio::spawn(run_inbound(transport.clone(), tcp, conn, rx));
        }
    });
}

async fn run_inbound(
    transport: Transport,
    tcp: TcpStream,
    conn: Conn,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let from = Remote::tcp(conn.addr);
    let failure = serve(&transport, tcp, &from, &conn, &mut rx, Some(INBOUND_IDLE)).await;
    finish(&transport, &conn, &mut rx, failure);
    transport.streams.inbound.fetch_sub(1, Ordering::Relaxed);
}

/// Read and write on an open connection until either side fails; returns
/// why it ended.
async fn serve<S: AsyncRead + AsyncWrite>(
    transport: &Transport,
    stream: S,
    from: &Remote,
    conn: &Conn,
    rx: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    idle: Option<Duration>,
) -> TransportFailure {
    let (mut r, mut w) = tokio::io::split(stream);
    let closed = |reason: String| TransportFailure::Closed {
        addr: conn.addr,
        protocol: conn.protocol,
        reason,
    };
    // Each loop runs whole inside the select: when one ends the connection
    // is over, so cancelling the other mid-write loses nothing that matters.
    tokio::select! {
        reason = read_loop(transport, &mut r, from, conn, idle) => closed(reason),
        res = write_loop(&mut w, rx, &conn.queued) => match res {
            Err(e) => conn.send_failure(&e.to_string()),
            Ok(()) => closed("the write queue closed".into()),
        },
    }
}

/// Cut frames from the stream and dispatch them; answer pings with a pong
/// (RFC 5626 4.4.1). Returns why reading stopped.
async fn read_loop<R: AsyncRead + Unpin>(
    transport: &Transport,
    r: &mut R,
    from: &Remote,
    conn: &Conn,
    idle: Option<Duration>,
) -> String {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let read = match idle {
            Some(limit) => match tokio::time::timeout(limit, r.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => return format!("idle for {limit:?}"),
            },
            None => r.read(&mut buf).await,
        };
        let n = match read {
            Ok(0) => return "closed by the peer".into(),
            Ok(n) => n,
            Err(e) => return e.to_string(),
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => transport.dispatch(&m, from.clone()),
                Ok(Some(Frame::Ping)) => {
                    let _ = conn.queue(b"\r\n".to_vec());
                }
                Ok(None) => break,
                Err(e) => {
                    transport.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    return format!("unframeable stream: {e}");
                }
            }
        }
    }
}

/// Write queued messages, batching what is waiting into one write.
async fn write_loop<W: AsyncWrite + Unpin>(
    w: &mut W,
    rx: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    queued: &AtomicUsize,
) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        w.write_all(&batch).await?;
        w.flush().await?;
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
    }
    Ok(())
}
