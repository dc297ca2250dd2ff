//! A small TCP proxy between devices and the server: it counts the bytes on the wire, can point
//! at a restarted server, can cut connections in the middle of a response, and can delay every
//! byte (a phone network's round trip).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes from devices to the server.
    pub up: AtomicU64,
    /// Bytes from the server to devices.
    pub down: AtomicU64,
    /// Connections cut on purpose.
    pub cuts: AtomicU64,
}

/// The proxy's knobs, shared with the test.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    target: Arc<Mutex<SocketAddr>>,
    /// When set, every `cut_every`-th response to a sync request (counted over all
    /// connections: a device keeps its connection from sync to sync) is dropped after part of
    /// it, with its connection.
    cut_every: Arc<AtomicU64>,
    down_now: Arc<AtomicBool>,
    /// Each direction's delay, in microseconds (0: none).
    delay_us: Arc<AtomicU64>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 towards `target`.
    ///
    /// # Errors
    /// The listener cannot be bound.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let p = Proxy {
            addr,
            counters: Arc::default(),
            target: Arc::new(Mutex::new(target)),
            cut_every: Arc::new(AtomicU64::new(0)),
            down_now: Arc::new(AtomicBool::new(false)),
            delay_us: Arc::new(AtomicU64::new(0)),
        };
        let (counters, target, cut_every, down, delay_us) = (
            p.counters.clone(),
            p.target.clone(),
            p.cut_every.clone(),
            p.down_now.clone(),
            p.delay_us.clone(),
        );
        let responses = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let to = *target.lock().expect("target");
                let link = Link {
                    counters: counters.clone(),
                    down: down.clone(),
                    cut_every: cut_every.clone(),
                    responses: responses.clone(),
                };
                let delay = Duration::from_micros(delay_us.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    let _ = if delay.is_zero() {
                        pipe(client, to, link).await
                    } else {
                        pipe_delayed(client, to, link, delay).await
                    };
                });
            }
        });
        Ok(p)
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points the proxy at another server address (after a restart).
    pub fn retarget(&self, to: SocketAddr) {
        *self.target.lock().expect("target") = to;
    }

    /// Cuts every n-th response to a push or a pull in its middle, with its connection (0 =
    /// never).
    pub fn cut_every(&self, n: u64) {
        self.cut_every.store(n, Ordering::SeqCst);
    }

    /// Refuses every connection and drops the open ones at their next bytes (the device is out
    /// of signal) until set back.
    pub fn set_down(&self, down: bool) {
        self.down_now.store(down, Ordering::SeqCst);
    }

    /// Delays every byte by `one_way` in each direction (new connections): a round trip of
    /// twice that, as on a phone network. Zero: none.
    pub fn set_delay(&self, one_way: Duration) {
        let us = u64::try_from(one_way.as_micros()).unwrap_or(u64::MAX);
        self.delay_us.store(us, Ordering::SeqCst);
    }

    #[must_use]
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.counters.up.load(Ordering::SeqCst),
            self.counters.down.load(Ordering::SeqCst),
        )
    }
}

/// What one connection through the proxy shares with the others.
struct Link {
    counters: Arc<Counters>,
    down: Arc<AtomicBool>,
    cut_every: Arc<AtomicU64>,
    /// Sync responses begun, over all connections.
    responses: Arc<AtomicU64>,
}

impl Link {
    /// Bytes may pass: the proxy is not down (or the link is dropped).
    fn up(&self) -> std::io::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("out of signal"));
        }
        Ok(())
    }

    /// A sync response begins: whether it is one to cut.
    fn cut_this(&self) -> bool {
        let every = self.cut_every.load(Ordering::SeqCst);
        let n = self.responses.fetch_add(1, Ordering::SeqCst) + 1;
        every > 0 && n.is_multiple_of(every)
    }
}

async fn pipe(mut client: TcpStream, to: SocketAddr, link: Link) -> std::io::Result<()> {
    let mut server = TcpStream::connect(to).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    // Set when the device has sent a sync request (a push or a pull, the kind cut) that the
    // server has not begun to answer: the server's next bytes begin its response.
    let sync_asked = AtomicBool::new(false);
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                sw.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            link.up()?;
            if [&b"POST /api/v1/sync/"[..], &b"GET /api/v1/sync/"[..]]
                .iter()
                .any(|p| buf[..n].starts_with(p))
            {
                sync_asked.store(true, Ordering::Relaxed);
            }
            link.counters.up.fetch_add(n as u64, Ordering::Relaxed);
            sw.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                cw.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            link.up()?;
            if sync_asked.swap(false, Ordering::Relaxed) && link.cut_this() {
                // Forward only part of the response, then drop the link.
                let part = (n / 2).max(1).min(n);
                cw.write_all(&buf[..part]).await?;
                link.counters.down.fetch_add(part as u64, Ordering::Relaxed);
                link.counters.cuts.fetch_add(1, Ordering::Relaxed);
                return Err(std::io::Error::other("cut"));
            }
            link.counters.down.fetch_add(n as u64, Ordering::Relaxed);
            cw.write_all(&buf[..n]).await?;
        }
    };
    tokio::try_join!(up, down).map(|_| ())
}

/// [`pipe`] with every chunk forwarded `delay` after it was read, in order (latency, not a
/// narrower link).
async fn pipe_delayed(
    client: TcpStream,
    to: SocketAddr,
    link: Link,
    delay: Duration,
) -> std::io::Result<()> {
    let server = TcpStream::connect(to).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = forward_late(cr, sw, delay, &link, true);
    let down = forward_late(sr, cw, delay, &link, false);
    tokio::try_join!(up, down).map(|_| ())
}

async fn forward_late(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    link: &Link,
    up: bool,
) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            link.up()?;
            let counter = if up {
                &link.counters.up
            } else {
                &link.counters.down
            };
            counter.fetch_add(n as u64, Ordering::Relaxed);
            let due = tokio::time::Instant::now() + delay;
            if tx.send((due, buf[..n].to_vec())).is_err() {
                return Ok(());
            }
        }
    };
    let write = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            to.write_all(&bytes).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}
