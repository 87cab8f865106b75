//! Previews: a server a task started in its sandbox, shown by the platform at
//! `/preview/<short id>/` for a limited time (`AGENTOPS_PREVIEW_TTL_SECS`, 30 minutes by
//! default), after which it answers `410 preview_gone` (the agent stops the server then
//! too) and the reaper emits `preview.expired`.
//!
//! The short id is the end of the task's id (its random part), so the address says
//! which task it shows; a task's later previews add `-2`, `-3`… The agent names the
//! upstream the platform forwards to; only the hosts the operator lists
//! (`AGENTOPS_PREVIEW_UPSTREAMS`, loopback by default) are taken, so an agent key cannot
//! turn the proxy on the platform's private network. People open a preview with an API
//! key, or with its link (`/preview/<short id>/~<token>/`: the token is a path segment,
//! so the page's relative links keep it without cookies). The task's pages are served in
//! a sandbox of their own origin (`Content-Security-Policy: sandbox`, see the routes).

use chrono::Duration;
use rand::Rng;
use uuid::Uuid;

use agentops_sdk::types::{ErrorCode, Page, PreviewIn, PreviewOut, PreviewStatus};

use super::{Checks, PageRequest, paginate};
use crate::domain::Context;
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::preview};

/// Characters of an upstream URL.
const UPSTREAM_MAX: usize = 500;

fn status_of(row: &preview::Model, now: chrono::DateTime<chrono::Utc>) -> PreviewStatus {
    if row.stopped {
        PreviewStatus::Stopped
    } else if row.expires_at <= now {
        PreviewStatus::Expired
    } else {
        PreviewStatus::Live
    }
}

fn out(row: preview::Model) -> PreviewOut {
    let path = format!("/preview/{}/", row.short_id);
    PreviewOut {
        id: row.id,
        task_id: row.task_id,
        project_id: row.project_id,
        status: status_of(&row, store::now()),
        link: format!("{path}~{}/", row.token),
        path,
        short_id: row.short_id,
        port: row.port,
        expires_at: row.expires_at,
        created_at: row.created_at,
        stopped_at: row.stopped_at,
    }
}

fn event(kind: &'static str, preview: &PreviewOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: Some(preview.project_id),
        task_id: Some(preview.task_id),
        agent_id: None,
        data: serde_json::to_value(preview).unwrap_or_default(),
    }
}

/// Whether `text` is an upstream as the OpenAPI document states it
/// ([`limits::UPSTREAM_PATTERN`](super::limits::UPSTREAM_PATTERN)): `http(s)://`, a host
/// name whose last label starts with a letter or a dotted IPv4 address, an optional port
/// (1–65535), then `/` and `/`-ended segments of URL characters.
fn upstream_syntax(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
    else {
        return false;
    };
    let Some(slash) = rest.find('/') else {
        return false;
    };
    let (authority, path) = rest.split_at(slash);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let octet = |part: &str| {
        !part.is_empty()
            && part.len() <= 3
            && part.chars().all(|c| c.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u16>().is_ok_and(|n| n <= 255)
    };
    let ipv4 = host.split('.').count() == 4 && host.split('.').all(octet);
    let labels: Vec<&str> = host.split('.').collect();
    let name = labels
        .iter()
        .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && !p.starts_with('0')
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    });
    let segments: Vec<&str> = path[1..].split('/').collect();
    let path_ok = path.ends_with('/')
        && segments[..segments.len() - 1].iter().all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._~!$&'()*+,;=:@-".contains(c))
        });
    (ipv4 || name) && port_ok && path_ok
}

/// Checks an upstream's form (422), then its host (403 `upstream_not_allowed` unless
/// listed in `AGENTOPS_PREVIEW_UPSTREAMS`).
fn check_upstream(state: &Context, upstream: &str) -> Result<(), DomainError> {
    let mut checks = Checks::default();
    if upstream.chars().count() > UPSTREAM_MAX || !upstream_syntax(upstream) {
        checks.push(
            "upstream",
            "must be an http(s) base URL ending in `/`: a host name or IPv4 address, an \
             optional port, no query (at most 500 characters)",
        );
    }
    checks.finish()?;
    let host = reqwest::Url::parse(upstream)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let listed = state.cfg.preview_upstreams.iter().any(|h| {
        h.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .eq_ignore_ascii_case(&host)
    });
    if !listed {
        return Err(DomainError::refused(
            ErrorCode::UpstreamNotAllowed,
            format!(
                "previews may not be forwarded to {host}: it is not in AGENTOPS_PREVIEW_UPSTREAMS"
            ),
        ));
    }
    Ok(())
}

/// Starts showing a task's server; while a preview of the same task and upstream is
/// live, returns it (a retried create makes no second one). Returns whether it is new.
pub async fn create(state: &Context, input: PreviewIn) -> Result<(PreviewOut, bool), DomainError> {
    let mut checks = Checks::default();
    if let Some(ttl) = input.ttl_seconds {
        checks.range("ttl_seconds", ttl, super::limits::PREVIEW_TTL);
    }
    if let Some(port) = input.port {
        checks.range("port", i64::from(port), super::limits::PORT);
    }
    checks.finish()?;
    check_upstream(state, &input.upstream)?;
    let mut tx = state.begin().await?;
    let task = store::tasks::find(tx.conn(), input.task_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, input.task_id))?;
    let now = store::now();
    if let Some(live) = store::previews::find_live(tx.conn(), task.id, &input.upstream, now).await?
    {
        return Ok((out(live), false));
    }
    let earlier = store::previews::list(tx.conn(), Some(task.id), None, 1_000)
        .await?
        .len();
    let tail = task.id.simple().to_string()[20..].to_owned();
    let short_id = if earlier == 0 {
        tail
    } else {
        format!("{tail}-{}", earlier + 1)
    };
    let ttl = input
        .ttl_seconds
        .unwrap_or(i64::try_from(state.cfg.preview_ttl_secs).unwrap_or(1_800));
    let token: String = {
        let bytes: [u8; 16] = rand::rng().random();
        hex::encode(bytes)
    };
    let row = preview::Model {
        id: Uuid::now_v7(),
        task_id: task.id,
        project_id: task.project_id,
        short_id,
        token,
        upstream: input.upstream,
        port: input.port,
        stopped: false,
        expires_at: now + Duration::seconds(ttl),
        created_at: now,
        stopped_at: None,
        expiry_told: false,
    };
    let preview = out(store::previews::insert(tx.conn(), row).await?);
    tx.emit(event("preview.started", &preview));
    state.commit(tx).await?;
    Ok((preview, true))
}

/// One preview.
pub async fn get(state: &Context, id: Uuid) -> Result<PreviewOut, DomainError> {
    store::previews::find(&state.db, id)
        .await?
        .map(out)
        .ok_or_else(|| DomainError::not_found(ErrorCode::PreviewNotFound, id))
}

/// Previews, newest first, optionally of one task.
pub async fn list(
    state: &Context,
    task: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<PreviewOut>, DomainError> {
    let rows = store::previews::list(&state.db, task, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(out).collect(),
        page.limit,
        |p| p.id,
    ))
}

/// Stops showing a preview (again: unchanged).
pub async fn stop(state: &Context, id: Uuid) -> Result<PreviewOut, DomainError> {
    let mut tx = state.begin().await?;
    let mut row = store::previews::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::PreviewNotFound, id))?;
    if row.stopped {
        return Ok(out(row));
    }
    row.stopped = true;
    row.stopped_at = Some(store::now());
    let preview = out(store::previews::update(tx.conn(), row).await?);
    tx.emit(event("preview.stopped", &preview));
    state.commit(tx).await?;
    Ok(preview)
}

/// Tells the previews that expired since the last pass (`preview.expired`, once each:
/// the row remembers it); returns how many. The agent stops their servers on its own.
pub async fn tell_expired(state: &Context) -> Result<usize, DomainError> {
    let mut tx = state.begin().await?;
    let rows = store::previews::expired_untold_for_update(tx.conn(), store::now(), 200).await?;
    let count = rows.len();
    for mut row in rows {
        row.expiry_told = true;
        let preview = out(store::previews::update(tx.conn(), row).await?);
        tx.emit(event("preview.expired", &preview));
    }
    state.commit(tx).await?;
    Ok(count)
}

/// What the proxy needs to serve `/preview/<short_id>/`: the row, if the preview is
/// live (`404` none, `410` expired or stopped).
pub async fn open(state: &Context, short_id: &str) -> Result<preview::Model, DomainError> {
    let row = store::previews::find_by_short_id(&state.db, short_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::PreviewNotFound, short_id))?;
    match status_of(&row, store::now()) {
        PreviewStatus::Live => Ok(row),
        status => Err(DomainError::refused(
            ErrorCode::PreviewGone,
            format!("this preview is {status}: its server is gone"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::upstream_syntax;

    #[test]
    fn upstreams_are_read_as_the_document_states() {
        for good in [
            "http://127.0.0.1:47285/p/3f2a/",
            "https://seed-1.internal/",
            "http://localhost/",
            "http://0.0.0.0:65535/a/b/",
        ] {
            assert!(upstream_syntax(good), "{good}");
        }
        for bad in [
            "http://127.0.0.1:8000/p",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:65536/",
            "http://1.2.3/",
            "http://256.1.1.1/",
            "http://01.1.1.1/",
            "http://a b/",
            "http://a/x y/",
            "http://a//",
            "http://a/?q=1",
            "ftp://a/",
            "http://a:/",
            "http:///",
            "0000",
        ] {
            assert!(!upstream_syntax(bad), "{bad}");
        }
    }
}
