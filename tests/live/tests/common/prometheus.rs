//! A real Prometheus server (Debian's `prometheus` package) on 127.0.0.1, scraping one target,
//! with its config and TSDB in a temporary directory; killed when dropped, test failure
//! included.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A `prometheus` process scraping one target every second.
pub(crate) struct Prometheus {
    child: Child,
    log: PathBuf,
    web: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) as job `hist`, and waits until a scrape
    /// succeeded (`up == 1`).
    pub(crate) fn scraping(target: &str) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: install Debian's prometheus package \
             (apt-get install --no-install-recommends prometheus)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: hist\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let web: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = dir.path().join("prometheus.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let prometheus = Prometheus {
            child,
            log,
            web,
            _dir: dir,
        };
        prometheus.wait_for(r#"up{job="hist"}"#, |up| up == 1.0);
        prometheus
    }

    /// Polls the instant query `promql` until its one sample satisfies `done` (60 s at most).
    pub(crate) fn wait_for(&self, promql: &str, done: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(value) = self.query(promql)
                && done(value)
            {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{promql}: not as expected within 60 s ({:?})\n--- prometheus log:\n{}",
                self.query(promql),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The value of the one sample of the instant query `promql`, if there is exactly one.
    pub(crate) fn query(&self, promql: &str) -> Result<f64, String> {
        let (status, body) = get(
            self.web,
            &format!("/api/v1/query?query={}", url_encode(promql)),
        )?;
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status != 200 || json["status"] != "success" {
            return Err(format!("{promql}: {status} {body}"));
        }
        match json["data"]["result"].as_array().map(Vec::as_slice) {
            Some([sample]) => sample["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{promql}: {body}")),
            _ => Err(format!("{promql}: not one sample: {body}")),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `s` percent-encoded for a query string.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET path` over HTTP/1.0: the status code and the body, or why not.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of header")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_owned()))
}
