//! A small TCP proxy between devices and the server: it counts the bytes on the wire, can point
//! at a restarted server, and can cut connections in the middle of a response.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// When set, every `cut_every`-th connection is dropped after part of the response.
    cut_every: Arc<AtomicU64>,
    down_now: Arc<AtomicBool>,
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
        };
        let (counters, target, cut_every, down) = (
            p.counters.clone(),
            p.target.clone(),
            p.cut_every.clone(),
            p.down_now.clone(),
        );
        tokio::spawn(async move {
            let mut n: u64 = 0;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                if down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let every = cut_every.load(Ordering::SeqCst);
                let cut = every > 0 && n.is_multiple_of(every);
                let to = *target.lock().expect("target");
                let counters = counters.clone();
                tokio::spawn(async move {
                    let _ = pipe(client, to, counters, cut).await;
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

    /// Cuts every n-th connection mid-response (0 = never).
    pub fn cut_every(&self, n: u64) {
        self.cut_every.store(n, Ordering::SeqCst);
    }

    /// Refuses every connection (the device is out of signal) until set back.
    pub fn set_down(&self, down: bool) {
        self.down_now.store(down, Ordering::SeqCst);
    }

    #[must_use]
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.counters.up.load(Ordering::SeqCst),
            self.counters.down.load(Ordering::SeqCst),
        )
    }
}

async fn pipe(
    mut client: TcpStream,
    to: SocketAddr,
    counters: Arc<Counters>,
    cut: bool,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(to).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                sw.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            counters.up.fetch_add(n as u64, Ordering::Relaxed);
            sw.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent: usize = 0;
        loop {
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                cw.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            if cut {
                // Forward only part of the response, then drop the link.
                let part = (n / 2).max(1).min(n);
                if sent == 0 {
                    cw.write_all(&buf[..part]).await?;
                    counters.down.fetch_add(part as u64, Ordering::Relaxed);
                }
                counters.cuts.fetch_add(1, Ordering::Relaxed);
                return Err(std::io::Error::other("cut"));
            }
            sent += n;
            counters.down.fetch_add(n as u64, Ordering::Relaxed);
            cw.write_all(&buf[..n]).await?;
        }
    };
    tokio::try_join!(up, down).map(|_| ())
}
