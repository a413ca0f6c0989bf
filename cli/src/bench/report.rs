//! The result of a bench run: printed for a human, or one JSON object.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{procfs, Common};

/// Percentiles in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

impl Latency {
    pub fn from_us(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Relay {
    pub pid: u32,
    /// CPU seconds (user + system) during the run phase.
    pub cpu_s: f64,
    /// Cores busy on average during the run phase.
    pub cores: f64,
    pub rss_bytes: u64,
    /// Relay CPU per delivery, microseconds.
    pub cpu_per_delivery_us: Option<f64>,
    /// (RSS with the connections - RSS before them) / connections.
    pub rss_per_conn_bytes: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Generator {
    pub cpu_s: f64,
    pub cores: f64,
    /// True when the generator used most of a core: it may be the limit.
    pub saturated: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub url: String,
    pub clients: usize,
    pub senders: usize,
    pub rooms: usize,
    /// Messages per second per sender; `None` when sending flat out.
    pub rate: Option<f64>,
    pub window: Option<usize>,
    pub text_bytes: usize,
    pub connected: usize,
    pub connect_failed: usize,
    /// Connections the relay closed during the run (slow consumers, ...).
    pub dropped: usize,
    pub setup_s: f64,
    /// How long the deliveries still on their way took after the run (5 s
    /// at most; what is missing then counts as lost).
    pub drain_s: Option<f64>,
    pub duration_s: f64,
    /// Connect, hello and join, per connection.
    pub connect_ms: Latency,
    pub sent: u64,
    pub acked: u64,
    /// `message` frames received during the run phase.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    /// Deliveries owed for acked sends that never arrived.
    pub lost: u64,
    pub dups: u64,
    /// Send to delivery (churn: send to ack).
    pub latency_ms: Option<Latency>,
    pub cycles_per_s: Option<f64>,
    pub relay: Option<Relay>,
    pub generator: Generator,
    pub nofile_limit: u64,
    /// Cores other processes kept busy during the run (the machine's busy
    /// time minus the relay's and the generator's): more than a little
    /// means the figures are not the relay's alone.
    pub others_cores: Option<f64>,
    #[serde(skip)]
    pub relay_pid: Option<u32>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(scenario: &str, common: &Common, clients: usize, nofile: u64) -> Report {
        Report {
            scenario: scenario.to_owned(),
            url: common.url.clone(),
            clients,
            text_bytes: common.text_bytes,
            nofile_limit: nofile,
            relay_pid: common.relay_pid,
            ..Report::default()
        }
    }

    pub fn generator(&mut self, before: procfs::Sample, after: procfs::Sample, wall: Duration) {
        let cores = procfs::cores(before, after, wall);
        self.generator = Generator {
            cpu_s: after.cpu_secs - before.cpu_secs,
            cores,
            saturated: cores >= 0.9,
        };
        if self.generator.saturated {
            self.warnings.push(format!(
                "the load generator used {cores:.2} cores: it competes with the relay for this machine, so these figures may be its limit, not the relay's"
            ));
        }
        if self.connect_failed > 0 {
            self.warnings.push(format!(
                "{} connection(s) failed to set up (file descriptors: {}; relay limits: start it with --max-conns-per-ip 0 --max-handshakes-per-ip-per-sec 0 --rate-limit 0 --room-rate-limit 0)",
                self.connect_failed, self.nofile_limit
            ));
        }
    }

    /// Records what the rest of the machine did during the run.
    pub fn machine(&mut self, busy_secs: f64, wall: Duration) {
        let ours = self.generator.cpu_s + self.relay.as_ref().map_or(0.0, |r| r.cpu_s);
        let others = ((busy_secs - ours) / wall.as_secs_f64().max(1e-9)).max(0.0);
        self.others_cores = Some(others);
        if self.relay.is_some() && others > 0.25 {
            self.warnings.push(format!(
                "other processes kept {others:.2} cores busy during the run: the figures are lower than on an idle machine"
            ));
        }
    }

    pub fn relay(
        &mut self,
        idle: procfs::Sample,
        before: procfs::Sample,
        after: procfs::Sample,
        wall: Duration,
        conns: usize,
    ) {
        let cpu_s = after.cpu_secs - before.cpu_secs;
        self.relay = Some(Relay {
            pid: self.relay_pid.unwrap_or(0),
            cpu_s,
            cores: procfs::cores(before, after, wall),
            rss_bytes: after.rss_bytes,
            cpu_per_delivery_us: (self.deliveries > 0)
                .then(|| cpu_s * 1e6 / self.deliveries as f64),
            rss_per_conn_bytes: (conns > 0)
                .then(|| (after.rss_bytes as f64 - idle.rss_bytes as f64) / conns as f64),
        });
    }

    pub fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string(self).expect("reports always serialize")
            );
            return;
        }
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "{}: {} clients ({} connected, {} failed, {} dropped), {} senders, {} rooms, {:.1} s",
            self.scenario,
            self.clients,
            self.connected,
            self.connect_failed,
            self.dropped,
            self.senders,
            self.rooms,
            self.duration_s
        ));
        let c = &self.connect_ms;
        line(format!(
            "  connect+join  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (setup {:.1} s)",
            c.p50, c.p99, c.max, self.setup_s
        ));
        if let Some(cycles) = self.cycles_per_s {
            line(format!("  cycles        {cycles:.0}/s"));
        }
        line(format!(
            "  deliveries    {:.0}/s ({} in the run; sent {}, acked {})",
            self.deliveries_per_s, self.deliveries, self.sent, self.acked
        ));
        line(format!("  lost {}  duplicated {}", self.lost, self.dups));
        if let Some(l) = &self.latency_ms {
            line(format!(
                "  latency       p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                l.p50, l.p90, l.p99, l.max
            ));
        }
        if let Some(r) = &self.relay {
            line(format!(
                "  relay         {:.2} CPU s ({:.2} cores), RSS {:.1} MiB",
                r.cpu_s,
                r.cores,
                r.rss_bytes as f64 / (1024.0 * 1024.0)
            ));
            if let Some(us) = r.cpu_per_delivery_us {
                line(format!("  relay CPU per delivery {us:.3} µs"));
            }
            if let Some(bytes) = r.rss_per_conn_bytes {
                line(format!(
                    "  relay RSS per connection {:.1} KiB",
                    bytes / 1024.0
                ));
            }
        }
        line(format!(
            "  generator     {:.2} CPU s ({:.2} cores)",
            self.generator.cpu_s, self.generator.cores
        ));
        if let Some(others) = self.others_cores {
            line(format!("  other processes {others:.2} cores"));
        }
        for e in &self.errors {
            line(format!("  error: {e}"));
        }
        for w in &self.warnings {
            line(format!("  warning: {w}"));
        }
        print!("{out}");
    }
}
