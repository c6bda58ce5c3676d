//! The PostgreSQL side of [`changes`](crate::store::changes): writers announce with
//! `pg_notify` in their transaction ([`NOTIFY_LABELS`], the gateway's revision bump), and one
//! dedicated connection per store `LISTEN`s, started when the first feed is asked for and
//! forwarding the announcements of its own schema to every feed. A lost connection is retried
//! with backoff and, once back, asks every follower to resync (what was missed is unknown).
//! The listener ends with the store.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::changes::{CHANNEL, Change, ChangeFeed};

/// Announces a label move (run in the moving transaction).
pub(crate) const NOTIFY_LABELS: &str =
    "SELECT pg_notify('promptops_changes', COALESCE(current_schema(), '') || ':labels')";

/// Announces units that became available (run in the queuing or releasing transaction): a
/// wake-up hint for idle workers, which poll anyway.
pub(crate) const NOTIFY_RUNS: &str = "SELECT pg_notify('promptops_changes', COALESCE(current_schema(), '') || ':runs')";

/// How often a listener with no announcement checks whether its store still exists.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Longest wait between reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a store needs to open its listening connection.
pub(crate) struct Listener {
    config: Config,
    tls: Option<MakeRustlsConnect>,
    sender: OnceLock<broadcast::Sender<Change>>,
}

impl Listener {
    pub(crate) fn new(config: Config, tls: Option<MakeRustlsConnect>) -> Self {
        Self { config, tls, sender: OnceLock::new() }
    }

    /// A new feed; the first one starts the listening task (on the current runtime).
    pub(crate) fn feed(self: &Arc<Self>) -> Option<ChangeFeed> {
        tokio::runtime::Handle::try_current().ok()?;
        let sender = self.sender.get_or_init(|| {
            let (sender, _) = broadcast::channel(256);
            tokio::spawn(run(Arc::downgrade(self), sender.clone()));
            sender
        });
        Some(sender.subscribe())
    }
}

/// Why a listening session ended.
enum Ended {
    /// The store is gone.
    Dropped,
    /// The connection failed or closed.
    Lost(Option<tokio_postgres::Error>),
}

async fn run(listener: Weak<Listener>, sender: broadcast::Sender<Change>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let Some((config, tls)) = listener.upgrade().map(|l| (l.config.clone(), l.tls.clone())) else { return };
        let started = std::time::Instant::now();
        let ended = match tls {
            Some(tls) => session(&config, tls, &listener, &sender).await,
            None => session(&config, NoTls, &listener, &sender).await,
        };
        match ended {
            Ended::Dropped => return,
            Ended::Lost(err) => {
                let error = err.map(|e| e.to_string()).unwrap_or_else(|| "closed".to_owned());
                tracing::warn!(error, "lost the PostgreSQL change listener; polling until it is back");
            }
        }
        if started.elapsed() > MAX_BACKOFF {
            backoff = Duration::from_millis(250);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: `LISTEN`, announce a resync, then forward until it ends.
async fn session<T>(config: &Config, tls: T, listener: &Weak<Listener>, sender: &broadcast::Sender<Change>) -> Ended
where
    T: MakeTlsConnect<Socket> + Send,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = match config.connect(tls).await {
        Ok(pair) => pair,
        Err(err) => return Ended::Lost(Some(err)),
    };
    let (payloads, mut received) = mpsc::unbounded_channel();
    // The connection object does the I/O; its notifications come out of `poll_message`.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            let forwarded = match message {
                Ok(AsyncMessage::Notification(note)) => payloads.send(Ok(note.payload().to_owned())),
                Ok(_) => Ok(()),
                Err(err) => payloads.send(Err(err)),
            };
            if forwarded.is_err() {
                return;
            }
        }
    });
    let ended = forward(&client, &mut received, listener, sender).await;
    driver.abort();
    ended
}

async fn forward(
    client: &tokio_postgres::Client,
    received: &mut mpsc::UnboundedReceiver<Result<String, tokio_postgres::Error>>,
    listener: &Weak<Listener>,
    sender: &broadcast::Sender<Change>,
) -> Ended {
    let schema: String = match client.query_one("SELECT COALESCE(current_schema(), '')", &[]).await {
        Ok(row) => row.get(0),
        Err(err) => return Ended::Lost(Some(err)),
    };
    if let Err(err) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        return Ended::Lost(Some(err));
    }
    let _ = sender.send(Change::Resync);
    let prefix = format!("{schema}:");
    loop {
        tokio::select! {
            message = received.recv() => match message {
                Some(Ok(payload)) => {
                    if let Some(change) = payload.strip_prefix(&prefix).and_then(Change::parse) {
                        let _ = sender.send(change);
                    }
                }
                Some(Err(err)) => return Ended::Lost(Some(err)),
                None => return Ended::Lost(None),
            },
            () = tokio::time::sleep(IDLE_CHECK) => {}
        }
        if listener.strong_count() == 0 {
            return Ended::Dropped;
        }
    }
}
