//! HTTP and HTTPS by nginx with the echo module: static files of several sizes, a POST
//! echo, a chunked response, PUT upload, a redirect, a 404.

use crate::ca::TestCa;
use crate::process::{ServerProcess, start_with_ports};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Deterministic bytes of every value, so tests can check a download against a digest.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// Static files every server has: (path under the web root, content).
pub fn static_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("hello.txt", b"hello from nginx\n".to_vec()),
        ("index.html", b"<html><body>SIM5360 test page</body></html>\n".to_vec()),
        ("empty.bin", Vec::new()),
        ("1.bin", vec![0x5a]),
        ("1k.bin", pattern(1024, 1)),
        ("1M.bin", pattern(1 << 20, 2)),
        ("10M.bin", pattern(10 << 20, 3)),
    ]
}

/// The one user `/private.txt` lets in (HTTP Basic).
pub const HTTP_USER: &str = "simuser";
pub const HTTP_PASSWORD: &str = "simpass";

/// A running nginx; stopped on drop.
#[derive(Debug)]
pub struct HttpServer {
    pub port: u16,
    pub tls_port: u16,
    www: PathBuf,
    proc: ServerProcess,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    pub fn start(ca: &TestCa) -> Result<Self> {
        Self::start_with(ca, false)
    }

    /// With `tls12_only`, HTTPS offers TLS 1.2 and nothing newer.
    pub fn start_with(ca: &TestCa, tls12_only: bool) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let w = dir.path();
        let (chain, key) = ca.install(&w.join("tls"))?;
        let www = w.join("www");
        std::fs::create_dir_all(www.join("upload"))?;
        for sub in ["tmp", "logs"] {
            std::fs::create_dir_all(w.join(sub))?;
        }
        for (name, bytes) in static_files() {
            std::fs::write(www.join(name), bytes)?;
        }
        std::fs::write(www.join("private.txt"), b"for members\n")?;
        // `/private.txt` needs HTTP Basic authentication as `HTTP_USER`/`HTTP_PASSWORD`.
        std::fs::write(w.join("htpasswd"), format!("{HTTP_USER}:{{PLAIN}}{HTTP_PASSWORD}\n"))?;
        let (proc, port, tls_port) = start_with_ports(2, |p| {
            let protocols = if tls12_only { "TLSv1.2" } else { "TLSv1.2 TLSv1.3" };
            std::fs::write(w.join("nginx.conf"), config(w, p[0], p[1], &chain, &key, protocols))?;
            let args = vec![
                "-p".to_owned(),
                w.display().to_string(),
                "-c".into(),
                w.join("nginx.conf").display().to_string(),
                "-e".into(),
                "stderr".into(),
                "-g".into(),
                "daemon off;".into(),
            ];
            ServerProcess::start("nginx", Path::new("/usr/sbin/nginx"), &args, w, p).map(|s| (s, p[0], p[1]))
        })?;
        Ok(Self { port, tls_port, www, proc, _dir: dir })
    }

    /// The web root (PUT uploads land in `upload/`).
    pub fn www(&self) -> &Path {
        &self.www
    }

    pub fn log_tail(&self) -> String {
        self.proc.log_tail()
    }

    /// The server's process id, which is also its process group's (workers included).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

fn config(w: &Path, port: u16, tls_port: u16, chain: &Path, key: &Path, protocols: &str) -> String {
    let w = w.display();
    let (chain, key) = (chain.display(), key.display());
    format!(
        r#"load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
worker_processes 1;
pid {w}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log {w}/logs/access.log;
  client_body_temp_path {w}/tmp/body;
  proxy_temp_path {w}/tmp/proxy;
  fastcgi_temp_path {w}/tmp/fastcgi;
  uwsgi_temp_path {w}/tmp/uwsgi;
  scgi_temp_path {w}/tmp/scgi;
  server_tokens off;
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{tls_port} ssl;
    server_name localhost;
    ssl_certificate {chain};
    ssl_certificate_key {key};
    ssl_protocols {protocols};
    root {w}/www;
    client_max_body_size 20m;
    # A POST to a static file answers the file (instead of 405).
    error_page 405 =200 $uri;
    # The request body back, chunked.
    location = /echo {{
      client_body_buffer_size 20m;
      echo_read_request_body;
      echo_request_body;
    }}
    # A chunked response in two flushes.
    location = /chunked {{
      default_type text/plain;
      echo "chunk one";
      echo_flush;
      echo_sleep 0.1;
      echo "chunk two";
    }}
    location /upload/ {{
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }}
    location = /private.txt {{
      auth_basic "sim5360";
      auth_basic_user_file {w}/htpasswd;
    }}
    location = /redirect {{ return 302 /hello.txt; }}
    location = /status/404 {{ return 404 "not here\n"; }}
  }}
}}
"#
    )
}

/// A bare HTTP/1.1 server on a free 127.0.0.1 port for benches (no nginx start-up in the
/// figures): each connection's request is read to its blank line and answered with
/// `body_for(path)` and `Connection: close`. Its port.
pub fn body_server(body_for: impl Fn(&str) -> std::sync::Arc<Vec<u8>> + Send + Sync + 'static) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let body_for = std::sync::Arc::new(body_for);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let body_for = body_for.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let body = body_for(text.split_whitespace().nth(1).unwrap_or("/"));
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = c.write_all(head.as_bytes());
                let _ = c.write_all(&body);
            });
        }
    });
    port
}
