//! Command-line and environment configuration of the relay.
//!
//! Every flag has a `PALAVER_*` environment variable. Defaults suit a public
//! deployment on a small VM; benchmarks turn the abuse limits off with
//! `--rate-limit 0 --room-rate-limit 0 --max-conns-per-ip 0
//! --max-handshakes-per-ip-per-sec 0`. docs/SECURITY.md lists every limit.

mod derived;
#[cfg(test)]
mod tests;
mod values;

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use ipnet::IpNet;
use url::Url;

use self::values::parse_metrics_bind;
pub use self::values::{MetricsBind, StoreKind, SyncLevel, DEFAULT_METRICS_BIND};
use crate::limits::parse_trusted_proxy;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "palaver-relay",
    version,
    about = "The Palaver chat relay: WebSocket protocol v1 on /ws, the web app from --static-dir.",
    long_about = None
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "PALAVER_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// TLS certificate chain (PEM) to serve https:// and wss:// directly,
    /// without a reverse proxy. Needs --tls-key.
    #[arg(long, env = "PALAVER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, env = "PALAVER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Directory of the built web app (trunk's dist/), served at /. Skipped
    /// with a warning when it does not exist.
    #[arg(long, env = "PALAVER_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Where browsers reach this relay, e.g. https://chat.example.com: its
    /// own origin, whose pages may open WebSockets. Without it, the origin
    /// is that of --bind (an address, not a name), so behind a proxy or on a
    /// domain name set it.
    #[arg(long, env = "PALAVER_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Where `/metrics` is served, apart from the public listener: keep it
    /// on loopback or a private network. `off` (or empty) serves no metrics.
    #[arg(
        long,
        env = "PALAVER_METRICS_BIND",
        default_value = DEFAULT_METRICS_BIND,
        value_parser = parse_metrics_bind
    )]
    pub metrics_bind: MetricsBind,

    // Gateways for old clients (docs/GATEWAYS.md): off unless bound.
    /// Address for the plain-TCP line gateway (`nc HOST PORT` chats: one
    /// line, one message). Off by default.
    #[arg(long, env = "PALAVER_LINE_BIND")]
    pub line_bind: Option<SocketAddr>,

    /// The room a line-gateway connection starts in.
    #[arg(long, env = "PALAVER_LINE_ROOM", default_value = "general")]
    pub line_room: String,

    /// Seconds a line-gateway connection may send nothing before it is
    /// closed (its clients cannot ping).
    #[arg(long, env = "PALAVER_LINE_IDLE_TIMEOUT", default_value_t = 600)]
    pub line_idle_timeout_secs: u64,

    /// Address for the IRC gateway (irssi, WeeChat, ii: `#room` is the
    /// Palaver room `room`). Off by default.
    #[arg(long, env = "PALAVER_IRC_BIND")]
    pub irc_bind: Option<SocketAddr>,

    /// The IRC gateway speaks TLS only (IRC clients' TLS option; port 6697
    /// by convention), with --gateway-tls-cert or else --tls-cert.
    #[arg(long, env = "PALAVER_IRC_TLS")]
    pub irc_tls: bool,

    /// The line gateway speaks TLS only (`openssl s_client`, `ncat --ssl`),
    /// with --gateway-tls-cert or else --tls-cert.
    #[arg(long, env = "PALAVER_LINE_TLS")]
    pub line_tls: bool,

    /// TLS certificate chain (PEM) for --irc-tls and --line-tls, when it is
    /// not --tls-cert's (e.g. HTTPS ends at a reverse proxy). Needs
    /// --gateway-tls-key.
    #[arg(long, env = "PALAVER_GATEWAY_TLS_CERT", requires = "gateway_tls_key")]
    pub gateway_tls_cert: Option<PathBuf>,

    /// PEM private key of --gateway-tls-cert.
    #[arg(long, env = "PALAVER_GATEWAY_TLS_KEY", requires = "gateway_tls_cert")]
    pub gateway_tls_key: Option<PathBuf>,

    /// A browser origin allowed to open WebSockets besides the relay's own
    /// origin and localhost, e.g. https://chat.example.com. Repeatable;
    /// comma-separated in the environment variable.
    #[arg(
        long = "allowed-origin",
        env = "PALAVER_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Whether browser pages on localhost/127.0.0.1/[::1] may connect
    /// whatever their port (handy in development). Turn off on a public
    /// relay: `--allow-localhost-origins false`.
    #[arg(long, env = "PALAVER_ALLOW_LOCALHOST_ORIGINS", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_localhost_origins: bool,

    /// Where chat history lives: `sqlite` (durable, in --data-dir) or
    /// `memory` (lost on restart; for tests and throwaway runs).
    #[arg(long, env = "PALAVER_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// Directory of the durable store, created if missing. One relay at a
    /// time may use it (a lock file guards it).
    #[arg(long, env = "PALAVER_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// How hard the sqlite store pushes each commit to disk before acking:
    /// `normal` survives a crash of the relay process (the default), `full`
    /// also survives power loss or an OS crash, `off` survives neither for
    /// the last moments of writes (benchmarks only).
    #[arg(long, env = "PALAVER_SYNC", value_enum, default_value_t = SyncLevel::Normal)]
    pub sync: SyncLevel,

    /// Messages kept per room by the memory store (it keeps only these).
    #[arg(long, env = "PALAVER_HISTORY_LIMIT", default_value_t = 1000)]
    pub history_limit: usize,

    /// The sqlite store keeps at most this many messages per room, deleting
    /// the oldest in the background; 0 = no limit.
    #[arg(long, env = "PALAVER_RETENTION_MESSAGES", default_value_t = 0)]
    pub retention_messages: u64,

    /// The sqlite store deletes messages older than this many days in the
    /// background; 0 = keep them forever.
    #[arg(long, env = "PALAVER_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u64,

    /// Messages sent with `joined` at most.
    #[arg(long, env = "PALAVER_JOIN_HISTORY", default_value_t = 100)]
    pub join_history: usize,

    /// Sustained `send` frames per second per connection; 0 = unlimited.
    #[arg(long, env = "PALAVER_RATE_LIMIT", default_value_t = 5)]
    pub rate_limit: u32,

    /// Sends allowed in a burst above --rate-limit.
    #[arg(long, env = "PALAVER_RATE_BURST", default_value_t = 10)]
    pub rate_burst: u32,

    /// Rooms one connection may be in at once; 0 = unlimited.
    #[arg(long, env = "PALAVER_MAX_ROOMS_PER_CONN", default_value_t = 50)]
    pub max_rooms_per_conn: u32,

    /// Members (distinct users) one room may hold; 0 = unlimited.
    #[arg(long, env = "PALAVER_MAX_ROOM_MEMBERS", default_value_t = 10_000)]
    pub max_room_members: u32,

    /// Open WebSocket connections in total; 0 = unlimited.
    #[arg(long, env = "PALAVER_MAX_CONNS", default_value_t = 100_000)]
    pub max_conns: u32,

    /// Open WebSocket connections per client IP; 0 = unlimited.
    #[arg(long, env = "PALAVER_MAX_CONNS_PER_IP", default_value_t = 32)]
    pub max_conns_per_ip: u32,

    /// New WebSocket handshakes per second per client IP (twice that in a
    /// burst); more get HTTP 429. 0 = unlimited.
    #[arg(
        long = "max-handshakes-per-ip-per-sec",
        env = "PALAVER_MAX_HANDSHAKES_PER_IP_PER_SEC",
        default_value_t = 10
    )]
    pub max_handshakes_per_ip_per_sec: u32,

    /// Messages per second one room accepts from all its members together
    /// (twice that in a burst); more get `rate_limited`. 0 = unlimited.
    #[arg(long, env = "PALAVER_ROOM_RATE_LIMIT", default_value_t = 50)]
    pub room_rate_limit: u32,

    /// Address or network (CIDR: 10.0.0.0/8, fd00::/8) of reverse proxies
    /// whose `X-Forwarded-For` header names the real client for the per-IP
    /// limits. Repeatable; comma-separated in the environment variable. From
    /// any other peer the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "PALAVER_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Seconds a connection may take to send its HTTP request headers (also
    /// between keep-alive requests); then it is closed. 0 = no limit.
    #[arg(
        long = "header-timeout",
        env = "PALAVER_HEADER_TIMEOUT",
        default_value_t = 10
    )]
    pub header_timeout_secs: u64,

    /// Token mode with HS256: the shared secret (at least 32 bytes) that
    /// signs connection tokens. Prefer the environment variable to the flag,
    /// which other users of the machine can see.
    #[arg(
        long,
        env = "PALAVER_AUTH_SECRET",
        hide_env_values = true,
        conflicts_with = "auth_public_key"
    )]
    pub auth_secret: Option<String>,

    /// Token mode with RS256 or EdDSA: a PEM file with the RSA or Ed25519
    /// public key that verifies connection tokens.
    #[arg(long, env = "PALAVER_AUTH_PUBLIC_KEY")]
    pub auth_public_key: Option<PathBuf>,

    /// Frames queued for one slow client before it is disconnected (close 4001).
    #[arg(long, env = "PALAVER_QUEUE_LEN", default_value_t = 1024)]
    pub queue_len: usize,

    /// Bytes queued for one slow client before it is disconnected (close
    /// 4001), whatever the number of frames; 0 = only --queue-len counts.
    #[arg(long, env = "PALAVER_QUEUE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub queue_bytes: usize,

    /// Seconds between WebSocket pings from the relay.
    #[arg(long, env = "PALAVER_PING_INTERVAL", default_value_t = 20)]
    pub ping_interval_secs: u64,

    /// Seconds without any frame (data or pong) before a peer is dropped (close 4002).
    #[arg(long, env = "PALAVER_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Seconds a disconnected user stays in their rooms, so a quick
    /// reconnect with the resume token shows no leave and join.
    #[arg(long, env = "PALAVER_RESUME_GRACE", default_value_t = 10)]
    pub resume_grace_secs: u64,

    /// Seconds a resume token stays valid after its user's last connection closed.
    #[arg(long, env = "PALAVER_RESUME_TTL", default_value_t = 86_400)]
    pub resume_ttl_secs: u64,

    /// Seconds during which a resent `client_id` is recognised and not stored twice.
    #[arg(long, env = "PALAVER_DEDUP_WINDOW", default_value_t = 3600)]
    pub dedup_window_secs: u64,

    /// A NATS server of the cluster's backplane, e.g. nats://nats-1:4222.
    /// Repeatable; comma-separated in the environment variable. With any,
    /// the relay runs in cluster mode: messages live in a JetStream stream
    /// shared by every relay (--store is then unused) and presence travels
    /// over NATS. Without, the relay is standalone.
    #[arg(long = "nats", env = "PALAVER_NATS", value_delimiter = ',')]
    pub nats: Vec<String>,

    /// Replicas of the JetStream message stream (1, or 3 on a 3-node NATS
    /// cluster). Only used when the relay creates the stream.
    #[arg(long, env = "PALAVER_NATS_REPLICAS", default_value_t = 1)]
    pub nats_replicas: usize,

    /// Seconds a message is kept in the JetStream stream; 0 = forever. The
    /// stream also keeps at most --history-limit messages per room.
    #[arg(long, env = "PALAVER_NATS_MAX_AGE", default_value_t = 30 * 86_400)]
    pub nats_max_age_secs: u64,

    /// Cluster mode only: make this relay a search indexer, keeping its own
    /// index of every room's messages in DIR (a SQLite database, fed by a
    /// durable JetStream consumer; restarted on the same DIR it resumes
    /// where it stopped) and answering searches from every relay. Run one
    /// or more: they share the searches. While none runs, cluster searches
    /// are refused as `unavailable` (docs/DEPLOY.md, "Search in a cluster").
    #[arg(long, env = "PALAVER_SEARCH_INDEX", value_name = "DIR")]
    pub search_index: Option<PathBuf>,

    /// Seconds between a search indexer's passes that drop the messages
    /// the stream no longer holds (past `--nats-max-age`, or pushed out of
    /// a room by `--history-limit`), so search never finds what history
    /// cannot show.
    #[arg(long, env = "PALAVER_SEARCH_PRUNE_SECS", default_value_t = 600)]
    pub search_prune_secs: u64,

    /// A NATS credentials file (a user JWT and its nkey seed, as `nsc`
    /// writes them) the relay authenticates with.
    #[arg(long, env = "PALAVER_NATS_CREDS", conflicts_with_all = ["nats_user", "nats_token"])]
    pub nats_creds: Option<PathBuf>,

    /// A NATS user name the relay authenticates with (with --nats-password).
    #[arg(
        long,
        env = "PALAVER_NATS_USER",
        requires = "nats_password",
        conflicts_with = "nats_token"
    )]
    pub nats_user: Option<String>,

    /// The password of --nats-user. Prefer the environment variable: a
    /// flag shows in the process list.
    #[arg(
        long,
        env = "PALAVER_NATS_PASSWORD",
        requires = "nats_user",
        hide_env_values = true
    )]
    pub nats_password: Option<String>,

    /// A NATS token the relay authenticates with. Prefer the environment
    /// variable: a flag shows in the process list.
    #[arg(long, env = "PALAVER_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,

    /// PEM file of the certificate authorities the NATS servers'
    /// certificates must chain to; with it the relay requires TLS to NATS.
    #[arg(long, env = "PALAVER_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,

    /// PEM client certificate the relay presents to NATS (with
    /// --nats-tls-key), for servers that verify clients.
    #[arg(long, env = "PALAVER_NATS_TLS_CERT", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,

    /// PEM private key of --nats-tls-cert.
    #[arg(long, env = "PALAVER_NATS_TLS_KEY", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,

    /// Seconds to wait for sessions to finish on shutdown.
    #[arg(long, env = "PALAVER_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    // Robustness (issue 11, items 7, 9-11): read budgets, faults, aging.
    /// Seconds between an internal fault the relay cannot recover from (a
    /// dead store thread, a poisoned lock) and its exit with status 1, so
    /// systemd or the orchestrator restarts it; meanwhile /healthz and
    /// /readyz answer 503.
    #[arg(long, env = "PALAVER_EXIT_ON_FAULT_SECS", default_value_t = 5)]
    pub exit_on_fault_secs: u64,

    // Web Push (docs/OPERATIONS.md, "Web Push").
    /// The VAPID private key (PEM, PKCS#8 or SEC1, P-256) that signs
    /// pushes. Without it the relay keeps one in --data-dir
    /// (`vapid-key.pem`, made on first start); with `--store memory`, one
    /// in memory; in cluster mode (--nats), one kept in NATS for every
    /// relay (give all relays the same file, or none). Changing it
    /// orphans every push subscription.
    #[arg(long, env = "PALAVER_VAPID_KEY")]
    pub vapid_key: Option<PathBuf>,

    /// How push services can reach the operator (`mailto:…` or `https:…`),
    /// the VAPID `sub`. Default: --public-url, else a placeholder (set it
    /// in production: some push services refuse placeholders).
    #[arg(long, env = "PALAVER_VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,

    /// Test only: push to http endpoints and to any address (loopback,
    /// private). Without it only https endpoints on public addresses are
    /// taken. Logs a warning at start.
    #[arg(long, env = "PALAVER_PUSH_ALLOW_INSECURE", hide = true)]
    pub push_allow_insecure: bool,

    /// Test only: faults to inject (`session-panic-on-room:ROOM`,
    /// `deliver-panic-on-room:ROOM`, comma-separated); see `faults`.
    #[arg(long, env = "PALAVER_FAULT_INJECT", default_value = "", hide = true)]
    pub fault_inject: String,

    /// Seconds after which an idle room's state in memory (the store's
    /// room row and cached messages, cluster mode's recent sequences) is
    /// forgotten, within twice that. Hidden: for tests.
    #[arg(
        long,
        env = "PALAVER_ROOM_IDLE_SECS",
        default_value_t = 600,
        hide = true
    )]
    pub room_idle_secs: u64,
    /// Bytes of `joined` and `history` replies one connection may be sent
    /// per second (sustained); beyond, those requests get `rate_limited`.
    /// 0 = unlimited.
    #[arg(long, env = "PALAVER_READ_BYTES_PER_SEC", default_value_t = 512 * 1024)]
    pub read_bytes_per_sec: u64,

    /// Bytes of `joined` and `history` replies allowed in a burst above
    /// --read-bytes-per-sec (a reconnect rejoining many rooms).
    #[arg(long, env = "PALAVER_READ_BYTES_BURST", default_value_t = 8 * 1024 * 1024)]
    pub read_bytes_burst: u64,

    /// History reads from the store running at once, for the whole relay;
    /// a read beyond waits up to 2 s, then gets `unavailable`. 0 = no cap.
    #[arg(long, env = "PALAVER_MAX_STORE_READS", default_value_t = 32)]
    pub max_store_reads: usize,

    // Big rooms (docs/PROTOCOL.md, "Big rooms") and per-kind budgets
    // (docs/SECURITY.md, "Budgets per frame kind").
    /// A room with more members than this is big: `joined` lists only the
    /// first --joined-members, presence comes in one batch per second and
    /// typing only to connections that show the room.
    #[arg(long, env = "PALAVER_BIG_ROOM", default_value_t = 100)]
    pub big_room: usize,

    /// Members a `joined` lists for a big room (the first of the roster).
    #[arg(long, env = "PALAVER_JOINED_MEMBERS", default_value_t = 50)]
    pub joined_members: usize,

    /// A connection's `typing` in one room is broadcast at most once per
    /// this many milliseconds; the others are dropped silently. 0 = all.
    #[arg(long, env = "PALAVER_TYPING_EVERY_MS", default_value_t = 2000)]
    pub typing_every_ms: u64,

    /// `join` and `leave` frames one connection may send per minute (as a
    /// burst, refilled evenly); more get `rate_limited`. 0 = unlimited.
    #[arg(long, env = "PALAVER_JOINS_PER_MINUTE", default_value_t = 120)]
    pub joins_per_minute: u32,

    /// `nick` frames one connection may send per minute; more get
    /// `rate_limited`. 0 = unlimited.
    #[arg(long, env = "PALAVER_NICKS_PER_MINUTE", default_value_t = 10)]
    pub nicks_per_minute: u32,

    // Token lifetimes (accounts helper): kept together at the end.
    /// Token mode: accept only tokens whose `aud` claim holds this value.
    #[arg(long, env = "PALAVER_AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,

    /// Token mode: accept only tokens whose `iss` claim is this value.
    #[arg(long, env = "PALAVER_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,

    /// Token mode: seconds of clock difference tolerated between the login
    /// service and the relay, for `exp` at login and for closing a
    /// connection whose token expired (4005).
    #[arg(long, env = "PALAVER_AUTH_LEEWAY", default_value_t = 30)]
    pub auth_leeway_secs: u64,

    // Files and images (docs/PROTOCOL.md "Files", docs/SECURITY.md).
    /// Bytes of one uploaded file; larger uploads get 413.
    #[arg(long, env = "PALAVER_MAX_FILE_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_file_bytes: u64,

    /// Uploads one user may make per minute (as a burst, refilled evenly);
    /// more get 429. 0 = unlimited.
    #[arg(long, env = "PALAVER_UPLOADS_PER_MINUTE", default_value_t = 20)]
    pub uploads_per_minute: u32,

    /// Bytes one user's stored uploads may hold together; more get 413.
    /// 0 = no quota.
    #[arg(long, env = "PALAVER_FILE_QUOTA_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub file_quota_bytes: u64,

    /// Bytes of every stored file together; past it uploads get 507.
    /// 0 = no cap.
    #[arg(long, env = "PALAVER_FILES_MAX_BYTES", default_value_t = 20 * 1024 * 1024 * 1024)]
    pub files_max_bytes: u64,

    /// Seconds an attachment's signed URL stays valid at least (rounded
    /// up to the hour; under an hour, to a multiple of itself, for tests:
    /// the relay warns); history gives fresh ones.
    #[arg(long, env = "PALAVER_FILE_URL_TTL", default_value_t = 86_400)]
    pub file_url_ttl_secs: u64,

    /// Seconds between garbage collections of files no message posts.
    #[arg(long, env = "PALAVER_FILES_GC_SECS", default_value_t = 300)]
    pub files_gc_secs: u64,

    /// Seconds an upload that no message posted is kept.
    #[arg(long, env = "PALAVER_FILES_UNPOSTED_SECS", default_value_t = 86_400)]
    pub files_unposted_secs: u64,
}
