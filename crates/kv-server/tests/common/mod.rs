//! A server on an ephemeral loopback port, in a thread of its own, over a simulated disk
//! (so a test can "pull the plug" and reopen what was written) and a manual clock.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use kv_db::{Db, Options};
use kv_file::MemStorage;
use kv_server::{Config, Handle, ManualClock, Server};

/// A running server and what a test needs to reach it.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// To stop it, or sweep its expired keys.
    pub handle: Handle,
    /// Its clock, which moves only when the test says.
    pub clock: Arc<ManualClock>,
    /// Its disk.
    pub storage: MemStorage,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// The options every test database uses.
pub fn options() -> Options {
    Options::default()
}

impl TestServer {
    /// A server with `config` (its port replaced by an ephemeral one) on a fresh disk.
    pub fn start(config: Config) -> TestServer {
        TestServer::start_on(MemStorage::new(), config)
    }

    /// A server with default settings.
    pub fn default_config() -> TestServer {
        TestServer::start(Config::default())
    }

    /// A server on `storage` (e.g. one a previous server left).
    pub fn start_on(storage: MemStorage, mut config: Config) -> TestServer {
        config.port = 0;
        let db = Db::open_on(storage.clone(), options()).expect("open the database");
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let (ready_tx, ready) = mpsc::channel();
        let server_clock = Arc::clone(&clock);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let server = Server::bind(config, db, server_clock).await?;
                ready_tx
                    .send((server.local_addr()?, server.handle()))
                    .expect("the test waits");
                server.run().await
            })
        });
        let (addr, handle) = ready.recv().expect("the server started");
        TestServer {
            addr,
            handle,
            clock,
            storage,
            thread: Some(thread),
        }
    }

    /// A client speaking RESP2.
    pub fn client(&self) -> redis::Connection {
        self.client_url(&format!("redis://{}/", self.addr))
    }

    /// A client speaking RESP3 (it sends HELLO 3 first).
    pub fn client3(&self) -> redis::Connection {
        self.client_url(&format!("redis://{}/?protocol=resp3", self.addr))
    }

    fn client_url(&self, url: &str) -> redis::Connection {
        connect(url)
    }

    /// A raw socket, for protocol tests.
    pub fn raw(&self) -> TcpStream {
        let socket = TcpStream::connect(self.addr).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("a read timeout, so a hang fails the test");
        socket
    }

    /// Stops the server gracefully and waits until it has checkpointed; returns its disk.
    pub fn stop(mut self) -> MemStorage {
        self.handle.shutdown();
        let thread = self.thread.take().expect("running");
        thread.join().expect("no panic").expect("a clean shutdown");
        self.storage.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            let _ = thread.join();
        }
    }
}

/// A `redis` client connection to `url`, with timeouts so that a hang fails the test.
pub fn connect(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).expect("a valid URL");
    let con = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout, so a hang fails the test");
    con
}

/// Sends `request` raw and reads until `expected` bytes of reply have come (or EOF).
pub fn exchange(socket: &mut TcpStream, request: &[u8], expected: usize) -> Vec<u8> {
    socket.write_all(request).expect("send");
    let mut reply = vec![0; expected];
    let mut got = 0;
    while got < expected {
        match socket.read(&mut reply[got..]).expect("read") {
            0 => break,
            n => got += n,
        }
    }
    reply.truncate(got);
    reply
}

/// Reads until the server closes the connection.
pub fn read_to_close(socket: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    socket.read_to_end(&mut rest).expect("read until closed");
    rest
}

/// An error reply's text as the server sent it ("CODE message"; the client library splits
/// the two).
pub fn err_text<T: std::fmt::Debug>(result: redis::RedisResult<T>) -> String {
    let err = result.expect_err("an error reply");
    match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => err.to_string(),
    }
}
