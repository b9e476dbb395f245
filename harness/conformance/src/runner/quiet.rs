//! How long a `receive` that expects nothing to arrive (`arrives: false`) looks: until the
//! sending provider says it has nothing left to send (the driver API's optional `awaitIdle`),
//! and a short grace after; when its driver cannot say, the profile's `quiet-period`, else the
//! step's whole timeout. Waiting the whole timeout is what a request that does arrive late
//! would need; asking the provider ends the wait as soon as nothing more can come. The same
//! question (`idle`) tells when a finished case's link-B traffic is all in (`runner::blame`).

use crate::drivers::driver_api::Settled;
use crate::drivers::link_b::Connection;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the harness still looks after the provider said it was idle: the harness records
/// a request before it answers it, so this covers only a driver whose view of its sender
/// lags a little.
pub const GRACE: Duration = Duration::from_millis(50);

/// When to stop looking, and how that was decided (for the transcript).
pub struct Quiet {
    pub until: Instant,
    pub how: String,
}

/// Waits until the provider that would send (`sender`, when it is one under test) is idle, at
/// most until `deadline` (the step's timeout from its start): idle in `room` when what must not
/// arrive is a room's (a notify), so that other cases' work does not hold the wait up.
pub async fn wait(
    sender: Option<&Connection>,
    room: Option<&str>,
    timeout: Duration,
    deadline: Instant,
) -> Quiet {
    let Some(connection) = sender else {
        return Quiet {
            until: deadline,
            how: format!("within the step's timeout of {}ms", timeout.as_millis()),
        };
    };
    let name = &connection.profile.domain;
    let unknown = match &connection.driver {
        None => "its profile names no driver API".to_string(),
        Some(driver) => {
            let within = deadline.saturating_duration_since(Instant::now());
            let rooms = room.map(|r| [r.to_string()]);
            match driver.settled(rooms.as_ref().map(|r| &r[..]), within).await {
                Settled::Idle(after) => {
                    return Quiet {
                        until: Instant::now() + GRACE,
                        how: format!(
                            "once {name} said it had nothing left to send ({}ms), nor in the {}ms after",
                            after.as_millis(),
                            GRACE.as_millis()
                        ),
                    }
                }
                Settled::Busy => {
                    return Quiet {
                        until: deadline,
                        how: format!(
                            "within the step's timeout of {}ms ({name} was still sending when it ran out)",
                            timeout.as_millis()
                        ),
                    }
                }
                Settled::Unknown(why) => why,
            }
        }
    };
    match connection.profile.quiet_period {
        Some(period) => Quiet {
            until: (Instant::now() + period).min(deadline),
            how: format!(
                "within the profile's quiet-period of {}ms ({name} cannot say when it is idle: {unknown})",
                period.as_millis()
            ),
        },
        None => Quiet {
            until: deadline,
            how: format!(
                "within the step's timeout of {}ms ({name} cannot say when it is idle: {unknown}; a profile's quiet-period shortens this)",
                timeout.as_millis()
            ),
        },
    }
}

/// Whether every one of these providers says it has nothing left to send on link B (its
/// driver's `awaitIdle`) for `rooms` (for any room or none, when None), all asked at once and
/// given `within`: false when one cannot say (no driver, or no `awaitIdle`) or is still
/// sending when the time runs out.
pub async fn idle(
    providers: &[Arc<Connection>],
    rooms: Option<&[String]>,
    within: Duration,
) -> bool {
    let rooms: Option<Arc<[String]>> = rooms.map(Arc::from);
    let mut asked = tokio::task::JoinSet::new();
    for connection in providers {
        if connection.driver.is_none() {
            return false;
        }
        let (connection, rooms) = (connection.clone(), rooms.clone());
        asked.spawn(async move {
            match &connection.driver {
                Some(driver) => matches!(
                    driver.settled(rooms.as_deref(), within).await,
                    Settled::Idle(_)
                ),
                None => false,
            }
        });
    }
    asked.join_all().await.into_iter().all(|idle| idle)
}
