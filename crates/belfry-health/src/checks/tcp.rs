//! [`TcpCheck`]: can we open a TCP connection to an address?

use std::time::Duration;

use tokio::net::TcpStream;

use crate::{CheckFuture, CheckOutcome, HealthCheck};

/// Passes when a TCP connection to an address can be opened (it is closed at
/// once). A cheap way to watch a database, cache or broker without its
/// driver.
///
/// The address is `host:port`; host names are resolved on every run.
/// Besides the per-check timeout of [`Health`](crate::Health), an optional
/// connect timeout gives a more precise message.
///
/// ```
/// use std::time::Duration;
/// use belfry_health::{checks::TcpCheck, HealthCheck, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let check = TcpCheck::new(listener.local_addr().unwrap().to_string())
///     .timeout(Duration::from_millis(500));
/// assert_eq!(check.check().await.status(), Status::Pass);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TcpCheck {
    addr: String,
    timeout: Option<Duration>,
}

impl TcpCheck {
    /// A check connecting to `addr` (`host:port`, e.g. `"db.internal:5432"`).
    ///
    /// ```
    /// let check = belfry_health::checks::TcpCheck::new("127.0.0.1:6379");
    /// # let _ = check;
    /// ```
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            timeout: None,
        }
    }

    /// Fails the check if connecting takes longer than `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let check = belfry_health::checks::TcpCheck::new("127.0.0.1:6379").timeout(Duration::from_millis(300));
    /// # let _ = check;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn connect(&self) -> CheckOutcome {
        match TcpStream::connect(self.addr.as_str()).await {
            Ok(_) => CheckOutcome::pass(),
            Err(err) => CheckOutcome::fail(format!("connect to {}: {err}", self.addr)),
        }
    }
}

impl HealthCheck for TcpCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match self.timeout {
                None => self.connect().await,
                Some(timeout) => tokio::time::timeout(timeout, self.connect())
                    .await
                    .unwrap_or_else(|_| {
                        CheckOutcome::fail(format!("connect to {} timed out after {timeout:?}", self.addr))
                    }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[tokio::test]
    async fn passes_when_listening_fails_when_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let check = TcpCheck::new(&addr).timeout(Duration::from_secs(5));
        assert_eq!(check.check().await, CheckOutcome::pass());

        drop(listener);
        let outcome = check.check().await;
        assert_eq!(outcome.status(), Status::Fail);
        assert!(
            outcome
                .message()
                .unwrap()
                .starts_with(&format!("connect to {addr}: ")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn unresolvable_address_fails() {
        let outcome = TcpCheck::new("not an address").check().await;
        assert_eq!(outcome.status(), Status::Fail);
    }
}
