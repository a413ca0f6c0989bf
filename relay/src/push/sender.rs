//! The push sender: after a message is committed, a push to each member
//! who should hear of it and is not looking.
//!
//! Delivery hands each committed message to a bounded queue with
//! `try_send` and never waits: a full queue drops the push (counted), so a
//! slow push service can never slow delivery or acks. One task takes
//! messages off the queue and, for every member of the room whose level
//! notifies of it (`NotifyLevel::notifies`, the default by the room's size)
//! and who has no visible app (`Memberships::attentive`, then
//! `attentive_elsewhere` on other relays in cluster mode), within the
//! per-user cap, starts one delivery per subscription. A delivery encrypts
//! the payload (`ece`), signs (`vapid`), POSTs (`client`), retries a 429,
//! a 5xx or no answer with backoff (honouring `Retry-After`), and removes
//! the subscription on 404 or 410.
//!
//! Guarantee: at most once per (message, subscription) from this relay's
//! memory; a crash loses what was queued (no push rather than a duplicate).

use std::{sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::PublicKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use shared::{protocol::NotifyLevel, ChatMessage, UserId};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use url::Url;

use super::{
    client::{self, Answer},
    ece::{self, UaKeys, MAX_PLAINTEXT},
    endpoint::Policy,
    metrics::{Drop, PushMetrics},
    subscriptions::{Subscription, SubscriptionStore},
    VapidSlot,
};
use crate::{
    hub::Hub,
    limits::{Budget, KeyedRate},
    memberships::Memberships,
};

/// Messages waiting for the sender; past it pushes are dropped.
pub const QUEUE_LEN: usize = 4096;
/// POSTs in flight at once.
const IN_FLIGHT: usize = 32;
/// Attempts after the first, on a 429, a 5xx or no answer.
const RETRIES: u32 = 3;
/// The first retry's wait without `Retry-After`; each later one doubles.
const BACKOFF: Duration = Duration::from_millis(500);
/// Pushes per user per minute (a burst of as many), past which a user's
/// pushes are dropped: a busy room must not flood a phone.
pub const PER_USER_PER_MINUTE: u32 = 20;
/// How long a push service keeps a push for an offline browser.
const TTL_SECS: u32 = 24 * 3600;
/// The most characters of a message's text a push carries.
const MAX_TEXT_CHARS: usize = 400;

/// What the sender is asked to push about.
pub enum Job {
    /// A new message: to every member whose level it notifies.
    Message(Arc<ChatMessage>),
    /// An edit that mentions members the message did not mention before:
    /// to those only (`state.mentions`, or everyone for a new `@room`), as
    /// a mention, unless their level is `none`. The message carries its
    /// new text.
    NewMentions(Arc<ChatMessage>),
}

/// The delivery side of the queue: cheap to clone into the store's
/// `deliver` closure and the sessions.
#[derive(Clone)]
pub struct PushQueue {
    /// `None` when pushes are off (cluster mode).
    tx: Option<mpsc::Sender<Job>>,
    metrics: PushMetrics,
}

impl PushQueue {
    /// A queue and its receiving end; `enabled: false` makes offers no-ops.
    pub fn new(enabled: bool, metrics: PushMetrics) -> (PushQueue, Option<mpsc::Receiver<Job>>) {
        if !enabled {
            return (PushQueue { tx: None, metrics }, None);
        }
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        (
            PushQueue {
                tx: Some(tx),
                metrics,
            },
            Some(rx),
        )
    }

    /// Whether pushes are sent at all (not in cluster mode).
    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    /// Offers a committed message without waiting.
    pub fn offer(&self, message: &Arc<ChatMessage>) {
        self.offer_job(Job::Message(message.clone()));
    }

    /// Offers a committed job without waiting (a full queue drops it).
    pub fn offer_job(&self, job: Job) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(job).is_err() {
            self.metrics.dropped(Drop::QueueFull);
        }
        self.metrics
            .queue_depth
            .set((QUEUE_LEN - tx.capacity()) as i64);
    }
}

/// What the sender needs, shared by its deliveries.
pub struct Sender {
    /// The key; a job before it is known is dropped.
    pub vapid: VapidSlot,
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub memberships: Arc<Memberships>,
    pub hub: Arc<Hub>,
    pub policy: Policy,
    pub metrics: PushMetrics,
    /// Each user's pushes per minute.
    per_user: KeyedRate<UserId>,
    /// Bounds the POSTs in flight.
    in_flight: Semaphore,
}

/// What a push says (the service worker's input), as JSON.
#[derive(Serialize)]
struct Payload<'a> {
    room: &'a str,
    seq: u64,
    from: &'a str,
    /// Absent when it did not fit, or for a subscription that hides the
    /// text (`push_subscribe`'s `hide_text`).
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    mention: bool,
}

impl Sender {
    pub fn new(
        vapid: VapidSlot,
        subscriptions: Arc<dyn SubscriptionStore>,
        memberships: Arc<Memberships>,
        hub: Arc<Hub>,
        policy: Policy,
        metrics: PushMetrics,
    ) -> Sender {
        Sender {
            vapid,
            subscriptions,
            memberships,
            hub,
            policy,
            metrics,
            per_user: KeyedRate::new(Budget::per(
                Duration::from_secs(60),
                PER_USER_PER_MINUTE,
                PER_USER_PER_MINUTE,
            )),
            in_flight: Semaphore::new(IN_FLIGHT),
        }
    }

    /// Takes messages off the queue until shutdown.
    pub async fn run(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Job>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        loop {
            let job = tokio::select! {
                _ = shutdown.cancelled() => return,
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
            };
            self.metrics.queue_depth.set(queue.len() as i64);
            self.fan_out(job, &tracker, &shutdown).await;
        }
    }

    /// Starts a delivery to each subscription of each member to notify.
    async fn fan_out(
        self: &Arc<Self>,
        job: Job,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        if self.vapid.get().is_none() {
            tracing::debug!("no push: the cluster's VAPID key is not known yet");
            return;
        }
        let (message, only_mentioned) = match &job {
            Job::Message(message) => (message, false),
            Job::NewMentions(message) => (message, true),
        };
        let members = match self.memberships.engine().members(&message.room).await {
            Ok(members) => members,
            Err(err) => {
                tracing::warn!(room = %message.room, "no pushes: {err}");
                return;
            }
        };
        let default = NotifyLevel::default_for(self.hub.member_count(&message.room));
        for (user, level) in members {
            let level = level.unwrap_or(default);
            let wanted = match only_mentioned {
                // A mention, at any level but `none` (`Off`).
                true => level != NotifyLevel::Off && NotifyLevel::Mentions.notifies(message, &user),
                false => level.notifies(message, &user),
            };
            if !wanted || self.memberships.attentive(&user) {
                continue;
            }
            let subscriptions = match self.subscriptions.of(&user).await {
                Ok(subs) if subs.is_empty() => continue,
                Ok(subs) => subs,
                Err(err) => {
                    tracing::warn!("no pushes for a user: {err}");
                    continue;
                }
            };
            // Asked last: in cluster mode it is a round trip to NATS.
            if self.memberships.attentive_elsewhere(&user).await {
                continue;
            }
            if !self.per_user.allow(&user) {
                self.metrics.dropped(Drop::UserCap);
                continue;
            }
            let mention = message.state.mentions_room || message.state.mentions.contains(&user);
            let push = Arc::new(Push {
                payload: payload(message, mention, true),
                hidden: payload(message, mention, false),
                urgency: if mention { "high" } else { "normal" },
                topic: topic(message.room.as_str()),
            });
            for sub in subscriptions {
                let (this, push, shutdown) = (self.clone(), push.clone(), shutdown.clone());
                tracker.spawn(async move { this.deliver(&push, sub, &shutdown).await });
            }
        }
    }

    /// Sends `push` to one subscription, retrying what may pass later.
    async fn deliver(&self, push: &Push, sub: Subscription, shutdown: &CancellationToken) {
        let (Some(keys), Ok(url)) = (ua_keys(&sub), Url::parse(&sub.endpoint)) else {
            // Checked at subscribe; only a hand-edited database gets here.
            let _ = self.subscriptions.remove(None, &sub.endpoint).await;
            return;
        };
        let mut attempt = 0;
        loop {
            let answer = {
                let Ok(_permit) = self.in_flight.acquire().await else {
                    return;
                };
                self.post(push, &url, &keys, sub.hide_text).await
            };
            let wait = match answer {
                Ok(Answer { status, .. }) if (200..300).contains(&status) => {
                    self.metrics.sent.inc();
                    return;
                }
                Ok(Answer { status, .. }) if status == 404 || status == 410 => {
                    self.metrics.failed(Some(status));
                    if let Ok(true) = self.subscriptions.remove(None, &sub.endpoint).await {
                        self.metrics.removed.inc();
                    }
                    return;
                }
                Ok(Answer {
                    status,
                    retry_after,
                }) if status == 429 || status >= 500 => {
                    self.metrics.failed(Some(status));
                    retry_after
                }
                Ok(Answer { status, .. }) => {
                    // 400, 403, 413: this push will not pass as it is.
                    self.metrics.failed(Some(status));
                    tracing::info!(status, "push refused by the push service");
                    return;
                }
                Err(err) if err.is_transient() => {
                    self.metrics.failed(None);
                    tracing::debug!("push not answered: {err}");
                    None
                }
                Err(err) => {
                    self.metrics.endpoint_refused();
                    tracing::info!("push endpoint refused at send time: {err}");
                    return;
                }
            };
            if attempt == RETRIES {
                return;
            }
            let wait = wait.unwrap_or(BACKOFF * 2u32.pow(attempt));
            attempt += 1;
            self.metrics.retries.inc();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One encrypted, signed POST.
    async fn post(
        &self,
        push: &Push,
        url: &Url,
        keys: &UaKeys,
        hide_text: bool,
    ) -> Result<Answer, client::PostError> {
        let payload = if hide_text {
            &push.hidden
        } else {
            &push.payload
        };
        let body = ece::encrypt(payload, keys).expect("payloads are built to fit");
        let headers = [
            ("ttl", TTL_SECS.to_string()),
            ("urgency", push.urgency.to_string()),
            ("topic", push.topic.clone()),
            ("content-encoding", "aes128gcm".to_string()),
            ("content-type", "application/octet-stream".to_string()),
            (
                "authorization",
                self.vapid
                    .get()
                    .expect("checked before fan-out")
                    .authorization(url, crate::clock::now_ms() / 1000),
            ),
        ];
        client::post(url, self.policy, &headers, body).await
    }
}

/// One push to send to a user's subscriptions.
struct Push {
    payload: Vec<u8>,
    /// The same without the text, for subscriptions that hide it.
    hidden: Vec<u8>,
    urgency: &'static str,
    topic: String,
}

/// The JSON a push carries: with `with_text`, the text cut to
/// [`MAX_TEXT_CHARS`] and left out if the whole would still not fit one
/// push; without, only the room, the author and whether it mentions.
fn payload(message: &ChatMessage, mention: bool, with_text: bool) -> Vec<u8> {
    let text: String = message.text.as_str().chars().take(MAX_TEXT_CHARS).collect();
    let mut payload = Payload {
        room: message.room.as_str(),
        seq: message.seq,
        from: message.from.nick.as_str(),
        text: with_text.then_some(text),
        mention,
    };
    let json = serde_json::to_vec(&payload).expect("serializes");
    if json.len() <= MAX_PLAINTEXT {
        return json;
    }
    payload.text = None;
    serde_json::to_vec(&payload).expect("serializes")
}

/// The `Topic` of a room's pushes, so a push service keeps only the
/// latest one per room for an offline browser: at most 32 characters of
/// the base64url alphabet, whatever the room's name.
fn topic(room: &str) -> String {
    let mut topic = URL_SAFE_NO_PAD.encode(Sha256::digest(room.as_bytes()));
    topic.truncate(32);
    topic
}

/// A stored subscription's keys, checked.
pub fn ua_keys(sub: &Subscription) -> Option<UaKeys> {
    let public = URL_SAFE_NO_PAD.decode(&sub.p256dh).ok()?;
    let auth = URL_SAFE_NO_PAD.decode(&sub.auth).ok()?;
    Some(UaKeys {
        public: PublicKey::from_sec1_bytes(&public).ok()?,
        auth: auth.try_into().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use shared::{Nick, RoomName, Text, User};

    use super::*;

    #[test]
    fn a_long_text_is_cut_and_the_topic_fits_the_header_rules() {
        let message = ChatMessage {
            room: RoomName::new("general").unwrap(),
            seq: 7,
            from: User {
                id: UserId("u1".into()),
                nick: Nick::new("ada").unwrap(),
            },
            text: Text::new(&"é".repeat(1000)).unwrap(),
            ts: 0,
            client_id: None,
            state: Default::default(),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&payload(&message, true, true)).unwrap();
        assert_eq!(json["room"], "general");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["from"], "ada");
        assert_eq!(json["mention"], true);
        assert_eq!(
            json["text"].as_str().unwrap().chars().count(),
            MAX_TEXT_CHARS
        );
        let hidden: serde_json::Value =
            serde_json::from_slice(&payload(&message, true, false)).unwrap();
        assert_eq!(
            hidden,
            serde_json::json!({"room": "general", "seq": 7, "from": "ada", "mention": true})
        );
        let topic = topic(&"x".repeat(200));
        assert_eq!(topic.len(), 32);
        assert!(topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(topic, super::topic("general"));
    }
}
