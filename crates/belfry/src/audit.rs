//! Audit and security events: a small typed API, one dedicated target, fixed field names.
//!
//! Every event is written under the target [`TARGET`] (`audit`) with these fields — and never
//! anything else, so a password or token cannot slip in through a free-form field:
//!
//! | field | value |
//! | --- | --- |
//! | `event.action` | `login`, `logout`, `permission_denied`, or the admin action's name |
//! | `event.outcome` | `success` or `failure` |
//! | `event.reason` | a fixed reason such as `bad_credentials` (failures only) |
//! | `user.id` | who (for a failed login: the name that was tried) |
//! | `client.address` | where from, when known |
//! | `request_id` | from the request span, like every line |
//!
//! Successes are logged at INFO, failures at WARN.
//!
//! ```
//! use belfry::audit;
//!
//! audit::login_succeeded("alice").client_address("203.0.113.9".parse().unwrap()).emit();
//! audit::login_failed("mallory").reason("bad_credentials").emit();
//! audit::permission_denied("bob", "delete_project").emit();
//! audit::admin_action("alice", "rotate_keys").emit();
//! audit::logout("alice").emit();
//! ```
//!
//! Routing: the events go to stdout with everything else by default. `BELFRY_AUDIT_LOG=<path>`
//! (or [`Telemetry::audit_log_file`](crate::telemetry::Telemetry::audit_log_file)) sends them,
//! as JSON lines, to that file instead — appended, one write per line, so `logrotate` with
//! `copytruncate` (or any rotation outside the process) can own retention. Filter them like any
//! target: `RUST_LOG=info,audit=info`.

use std::net::IpAddr;

/// The target of every audit event.
pub const TARGET: &str = "audit";

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
}

/// An audit event being built; nothing is written until [`emit`](Self::emit).
#[derive(Clone, Debug)]
#[must_use = "an audit event is written only by `emit()`"]
pub struct AuditEvent<'a> {
    action: &'a str,
    outcome: Outcome,
    user_id: &'a str,
    reason: Option<&'static str>,
    client_address: Option<IpAddr>,
}

/// A successful login of `user_id`.
pub fn login_succeeded(user_id: &str) -> AuditEvent<'_> {
    AuditEvent::new("login", Outcome::Success, user_id)
}

/// A failed login; `user_id` is the name that was tried. Never pass the password.
pub fn login_failed(user_id: &str) -> AuditEvent<'_> {
    AuditEvent::new("login", Outcome::Failure, user_id)
}

/// `user_id` logged out.
pub fn logout(user_id: &str) -> AuditEvent<'_> {
    AuditEvent::new("logout", Outcome::Success, user_id)
}

/// `user_id` was refused `permission` (a fixed name such as `delete_project`).
pub fn permission_denied<'a>(user_id: &'a str, permission: &'static str) -> AuditEvent<'a> {
    AuditEvent::new("permission_denied", Outcome::Failure, user_id).reason(permission)
}

/// `user_id` performed the administrative action `action` (a fixed name such as `rotate_keys`).
pub fn admin_action<'a>(user_id: &'a str, action: &'static str) -> AuditEvent<'a> {
    AuditEvent::new(action, Outcome::Success, user_id)
}

impl<'a> AuditEvent<'a> {
    fn new(action: &'a str, outcome: Outcome, user_id: &'a str) -> Self {
        Self {
            action,
            outcome,
            user_id,
            reason: None,
            client_address: None,
        }
    }

    /// Why, as a fixed word (`bad_credentials`, `locked`, ...): `&'static str`, so request data
    /// cannot end up here.
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Where the request came from.
    pub fn client_address(mut self, address: IpAddr) -> Self {
        self.client_address = Some(address);
        self
    }

    /// Writes the event under the `audit` target.
    pub fn emit(self) {
        let outcome = match self.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        };
        macro_rules! audit_event {
            ($level:expr) => {
                tracing::event!(
                    target: TARGET,
                    $level,
                    event.action = self.action,
                    event.outcome = outcome,
                    event.reason = self.reason,
                    user.id = self.user_id,
                    client.address = self.client_address.map(tracing::field::display),
                    "audit"
                )
            };
        }
        match self.outcome {
            Outcome::Success => audit_event!(tracing::Level::INFO),
            Outcome::Failure => audit_event!(tracing::Level::WARN),
        }
    }
}
