//! [`RedisServer`]: a throw-away `redis-server` on a free loopback port,
//! killed when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::VmError;
use crate::resp::{decode, encode_command, RespValue};

/// A private redis-server process (`--save '' --appendonly no`), bound to
/// 127.0.0.1 on a free port. Dropping it kills the process by PID.
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
    password: Option<String>,
}

impl RedisServer {
    /// Starts `redis-server` (from `$REDIS_SERVER` or `PATH`) and waits until
    /// it answers PING (at most 10 s).
    pub fn start() -> Result<RedisServer, VmError> {
        RedisServer::start_with_args(&[])
    }

    /// Same with extra server arguments, e.g. `["--requirepass", "secret"]`.
    /// With a password set, [`RedisServer::command`] authenticates first if
    /// `--requirepass` is among the arguments.
    pub fn start_with_args(extra: &[&str]) -> Result<RedisServer, VmError> {
        let password = extra
            .windows(2)
            .find(|w| w[0] == "--requirepass")
            .map(|w| w[1].to_string());
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string());
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let child = Command::new(&binary)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| VmError::Setup(format!("spawning {binary}: {e}")))?;
            let mut server = RedisServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                password: password.clone(),
            };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return Ok(server),
                // Most likely another process took the port: try another.
                Err(e) => last_error = e,
            }
        }
        Err(VmError::Setup(format!(
            "redis-server did not start: {last_error}"
        )))
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited early: {status}"));
            }
            if let Ok(RespValue::Simple(pong)) = self.command(&["PING"]) {
                if pong == "PONG" {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err("no PONG within the time limit".to_string());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Address to register with `HostEnv::register_redis_cluster`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Port number.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// PID of the server process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs one command on a fresh connection and decodes the reply.
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<RespValue, String> {
        let mut conn = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut request = Vec::new();
        let mut skip = 0;
        if let Some(password) = &self.password {
            request.extend_from_slice(&encode_command(&["AUTH", password.as_str()]));
            skip = 1;
        }
        request.extend_from_slice(&encode_command(args));
        conn.write_all(&request).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((value, len)) = decode(&buf).map_err(|e| e.to_string())? {
                if skip == 0 {
                    return Ok(value);
                }
                if let RespValue::Error(e) = value {
                    return Err(format!("AUTH refused: {e}"));
                }
                skip -= 1;
                buf.drain(..len);
                continue;
            }
            let n = conn.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".to_string());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// `GET key` as a string (`None` if missing).
    pub fn get(&self, key: &str) -> Option<String> {
        match self.command(&["GET", key]).ok()? {
            RespValue::Bulk(Some(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        }
    }

    /// `SET key value`.
    pub fn set(&self, key: &str, value: &str) -> Result<(), String> {
        match self.command(&["SET", key, value])? {
            RespValue::Simple(_) => Ok(()),
            other => Err(format!("SET replied {other:?}")),
        }
    }

    /// `FLUSHALL`.
    pub fn flush_all(&self) -> Result<(), String> {
        self.command(&["FLUSHALL"]).map(|_| ())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, VmError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| VmError::Setup(format!("finding a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| VmError::Setup(e.to_string()))
}
