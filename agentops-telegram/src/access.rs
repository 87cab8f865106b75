//! Which chats the bot serves: the platform's allowlist, its pairings of channel
//! `telegram` (`/api/v1/pairings`), shared by every replica of the bot and changed
//! without a restart.
//!
//! - A chat it does not know is given a one-time code (a `pending` pairing, valid an
//!   hour); an operator approves the code (`agentops telegram pair CODE`, `/pair CODE`
//!   or the ✅ button in an operator chat, or the dashboard's Chats page).
//! - `TELEGRAM_ALLOWED_CHATS` seeds the list: each of its chats is approved when the bot
//!   first reads the list (one that waits with a code too), unless an operator revoked
//!   it: that one stays revoked, whatever the variable says.
//! - The list is read again at least every [`FRESH`], at once when the relay sees a
//!   pairing approved or revoked, and when a chat it does not hold writes (at most every
//!   [`RECHECK`]), so a chat approved on another replica or from the command line gets
//!   in within seconds. While the platform cannot be read, the last list read serves
//!   (and it is tried again at most every [`RECHECK`]).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use agentops_sdk::Client;
use agentops_sdk::types::{PairingIn, PairingOut, PairingStatus};
use futures_util::TryStreamExt;

use crate::CHANNEL;

/// How long the allowlist read from the platform serves before it is read again.
pub const FRESH: Duration = Duration::from_secs(30);

/// How often, at most, a chat that is not on the list makes the bot read it again.
pub const RECHECK: Duration = Duration::from_secs(2);

/// The name seeded chats are given (they are not greeted when put on the list).
pub const SEEDED: &str = "from TELEGRAM_ALLOWED_CHATS";

/// The allowlist, as last read.
#[derive(Debug)]
pub struct Access {
    platform: Client,
    seeds: Vec<i64>,
    state: Mutex<State>,
    /// One reading at a time: chats writing together wait for the same one.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    /// The allowed chats, and when they were read (`None`: never, or forgotten).
    chats: Option<(HashSet<i64>, Instant)>,
    /// Whether the seeds are on the platform.
    seeded: bool,
    /// When reading the list last failed.
    failed: Option<Instant>,
}

impl Access {
    /// The allowlist of `platform` (an admin key), seeded with `seeds`.
    pub fn new(platform: Client, seeds: impl IntoIterator<Item = i64>) -> Self {
        let mut seeds: Vec<i64> = seeds.into_iter().collect();
        seeds.sort_unstable();
        seeds.dedup();
        Self {
            platform,
            seeds,
            state: Mutex::new(State::default()),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `chat` is allowed.
    ///
    /// # Errors
    /// If the list has to be read and cannot be (and was never read before).
    pub async fn allows(&self, chat: i64) -> Result<bool, agentops_sdk::Error> {
        let known = {
            let state = self.state();
            state
                .chats
                .as_ref()
                .map(|(chats, at)| (chats.contains(&chat), at.elapsed()))
        };
        match known {
            Some((true, age)) if age < FRESH => Ok(true),
            Some((false, age)) if age < RECHECK => Ok(false),
            _ => Ok(self.read(known.map(|(_, age)| age)).await?.contains(&chat)),
        }
    }

    /// Every allowed chat, in order.
    ///
    /// # Errors
    /// If the list has to be read and cannot be (and was never read before).
    pub async fn chats(&self) -> Result<Vec<i64>, agentops_sdk::Error> {
        let known = {
            let state = self.state();
            state
                .chats
                .as_ref()
                .filter(|(_, at)| at.elapsed() < FRESH)
                .map(|(chats, _)| chats.clone())
        };
        let chats = match known {
            Some(chats) => chats,
            None => self.read(None).await?,
        };
        let mut chats: Vec<i64> = chats.into_iter().collect();
        chats.sort_unstable();
        Ok(chats)
    }

    /// Forgets the list read (a pairing changed): the next question reads it again.
    pub fn forget(&self) {
        if let Some((_, at)) = &mut self.state().chats {
            // Kept to serve while the platform cannot be read, but no longer fresh.
            *at = Instant::now()
                .checked_sub(FRESH)
                .unwrap_or_else(Instant::now);
        }
    }

    /// Reads the list from the platform (once for all who ask together); if it cannot,
    /// the last one read serves. `age`: how old the list was when the caller found it
    /// wanting (a reading done since by someone else serves).
    async fn read(&self, age: Option<Duration>) -> Result<HashSet<i64>, agentops_sdk::Error> {
        let _reading = self.reading.lock().await;
        {
            let state = self.state();
            if let Some((chats, at)) = &state.chats {
                // Read meanwhile by someone else, or failing lately: what is known serves.
                let fresh = age.is_some_and(|age| at.elapsed() < age && at.elapsed() < RECHECK);
                let failing = state.failed.is_some_and(|f| f.elapsed() < RECHECK);
                if fresh || failing {
                    return Ok(chats.clone());
                }
            }
        }
        match self.fetch().await {
            Ok(chats) => {
                let mut state = self.state();
                state.chats = Some((chats.clone(), Instant::now()));
                state.failed = None;
                Ok(chats)
            }
            Err(err) => {
                let last = {
                    let mut state = self.state();
                    state.failed = Some(Instant::now());
                    state.chats.as_ref().map(|(chats, _)| chats.clone())
                };
                match last {
                    Some(chats) => {
                        tracing::warn!("cannot read the chat allowlist, using the last one: {err}");
                        Ok(chats)
                    }
                    None => Err(err),
                }
            }
        }
    }

    /// The approved chats on the platform, after putting the seeds there if they are not
    /// yet.
    async fn fetch(&self) -> Result<HashSet<i64>, agentops_sdk::Error> {
        let pairings = self.platform.pairings();
        let seeded = self.state().seeded;
        if !seeded && !self.seeds.is_empty() {
            let known: Vec<PairingOut> = pairings
                .list()
                .channel(CHANNEL)
                .limit(200)
                .stream()
                .try_collect()
                .await?;
            for seed in &self.seeds {
                let chat = seed.to_string();
                // Allowed already, or revoked by an operator: left as it is.
                if known.iter().any(|p| {
                    p.chat == chat
                        && matches!(p.status, PairingStatus::Approved | PairingStatus::Revoked)
                }) {
                    continue;
                }
                tracing::info!(chat = seed, "allowing a chat of TELEGRAM_ALLOWED_CHATS");
                pairings
                    .create(&PairingIn {
                        channel: CHANNEL.into(),
                        chat,
                        name: SEEDED.into(),
                        status: Some(PairingStatus::Approved),
                    })
                    .await?;
            }
        }
        self.state().seeded = true;
        let approved: Vec<PairingOut> = pairings
            .list()
            .channel(CHANNEL)
            .status(PairingStatus::Approved)
            .limit(200)
            .stream()
            .try_collect()
            .await?;
        Ok(approved
            .iter()
            .filter_map(|p| p.chat.parse::<i64>().ok())
            .collect())
    }
}

/// The pending pairing of a Telegram chat that was given `code` (case, spaces and dashes
/// do not matter), if one waits: a code of another channel's chat is not the bot's to
/// approve.
///
/// # Errors
/// If the platform cannot be read.
pub async fn waiting_with(
    platform: &Client,
    code: &str,
) -> Result<Option<PairingOut>, agentops_sdk::Error> {
    let wanted: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    let waiting: Vec<PairingOut> = platform
        .pairings()
        .list()
        .channel(CHANNEL)
        .status(PairingStatus::Pending)
        .limit(200)
        .stream()
        .try_collect()
        .await?;
    Ok(waiting
        .into_iter()
        .find(|p| p.code.as_deref() == Some(wanted.as_str())))
}
