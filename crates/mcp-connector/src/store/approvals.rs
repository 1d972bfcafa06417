//! Approval requests of destructive tool calls (`tool_approvals`, migration
//! `0020`): created by a call the client cannot confirm, decided by a
//! person on the approval page, spent by exactly one repeated call.
//!
//! Every state change is one conditional `UPDATE` (`WHERE status = …`), so
//! of two concurrent deciders or two concurrent repeats exactly one wins,
//! on any replica. Reads go to the write pool: a page opened right after
//! the call must see the row the call just wrote.

use sqlx::Row as _;

use crate::store::{Db, StoreError, on_write};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// Approved and spent by the call it allowed.
    Used,
    /// Past its expiry before it was used (set by the clean-up).
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Used => "used",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "used" => Self::Used,
            "expired" => Self::Expired,
            _ => return Err(StoreError::Corrupt("unknown approval status")),
        })
    }
}

/// The call an approval request is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalKey {
    /// The principal's subject (`user:<id>`, `client:<id>`, or the identity
    /// provider's `sub`).
    pub subject: String,
    /// The user behind the subject; `None` for a service client.
    pub user_id: Option<String>,
    pub client_id: String,
    pub tool: String,
    /// SHA-256 (hex) of the canonical arguments.
    pub args_digest: String,
}

/// A stored request.
#[derive(Debug, Clone)]
pub struct Approval {
    pub id: String,
    pub key: ApprovalKey,
    /// The canonical arguments (JSON text), shown on the page.
    pub arguments: String,
    pub status: ApprovalStatus,
    pub created_at: i64,
    pub expires_at: i64,
    /// The deciding user's id.
    pub decided_by: Option<String>,
}

const COLUMNS: &str = "id, subject, user_id, client_id, tool, args_digest, arguments, status, \
                       created_at, expires_at, decided_by";

fn approval(row: &impl RowLike) -> Result<Approval, StoreError> {
    row.approval()
}

/// Reads an [`Approval`] from a row of either backend.
trait RowLike {
    fn approval(&self) -> Result<Approval, StoreError>;
}

macro_rules! row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn approval(&self) -> Result<Approval, StoreError> {
                Ok(Approval {
                    id: self.try_get("id")?,
                    key: ApprovalKey {
                        subject: self.try_get("subject")?,
                        user_id: self.try_get("user_id")?,
                        client_id: self.try_get("client_id")?,
                        tool: self.try_get("tool")?,
                        args_digest: self.try_get("args_digest")?,
                    },
                    arguments: self.try_get("arguments")?,
                    status: ApprovalStatus::parse(&self.try_get::<String, _>("status")?)?,
                    created_at: self.try_get("created_at")?,
                    expires_at: self.try_get("expires_at")?,
                    decided_by: self.try_get("decided_by")?,
                })
            }
        }
    };
}
row_like!(sqlx::sqlite::SqliteRow);
row_like!(sqlx::postgres::PgRow);

/// A decision on the approval page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Db {
    /// Store a new pending request `id` for `key`.
    pub async fn insert_approval(
        &self,
        id: &str,
        key: &ApprovalKey,
        arguments: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_write!(self, |pool| {
            sqlx::query(
                "INSERT INTO tool_approvals (id, subject, user_id, client_id, tool, args_digest, \
                 arguments, status, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
            )
            .bind(id)
            .bind(&key.subject)
            .bind(&key.user_id)
            .bind(&key.client_id)
            .bind(&key.tool)
            .bind(&key.args_digest)
            .bind(arguments)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The request `id`, whatever its state.
    pub async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tool_approvals WHERE id = $1");
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(approval)
            .transpose())
    }

    /// The newest live (unexpired) request for exactly `key` that is
    /// pending or approved: what a repeated call finds.
    pub async fn live_approval(
        &self,
        key: &ApprovalKey,
        now: i64,
    ) -> Result<Option<Approval>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tool_approvals WHERE subject = $1 AND client_id = $2 \
             AND tool = $3 AND args_digest = $4 AND status IN ('pending', 'approved') \
             AND expires_at > $5 ORDER BY status = 'approved' DESC, created_at DESC LIMIT 1"
        );
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(&key.subject)
            .bind(&key.client_id)
            .bind(&key.tool)
            .bind(&key.args_digest)
            .bind(now)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(approval)
            .transpose())
    }

    /// Decide the pending, unexpired request `id` as `by` (a user id) from
    /// address `ip`. `false` when it was no longer pending (decided, used,
    /// expired) and nothing changed.
    pub async fn decide_approval(
        &self,
        id: &str,
        decision: Decision,
        by: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let status = match decision {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Reject => ApprovalStatus::Rejected,
        };
        Ok(on_write!(self, |pool| {
            sqlx::query(
                "UPDATE tool_approvals SET status = $1, decided_at = $2, decided_by = $3, \
                 decided_ip = $4 WHERE id = $5 AND status = 'pending' AND expires_at > $2",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(by)
            .bind(ip)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        }) == 1)
    }

    /// Spend the approved, unexpired request `id`: `true` for exactly one
    /// caller, however many try at once.
    pub async fn use_approval(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(on_write!(self, |pool| {
            sqlx::query(
                "UPDATE tool_approvals SET status = 'used', used_at = $1 \
                 WHERE id = $2 AND status = 'approved' AND expires_at > $1",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        }) == 1)
    }

    /// Mark every pending or approved request past its expiry as expired;
    /// the requests so marked (for the audit trail).
    pub async fn expire_approvals(&self, now: i64) -> Result<Vec<Approval>, StoreError> {
        let sql = format!(
            "UPDATE tool_approvals SET status = 'expired' \
             WHERE status IN ('pending', 'approved') AND expires_at <= $1 RETURNING {COLUMNS}"
        );
        on_write!(self, |pool| sqlx::query(&sql)
            .bind(now)
            .fetch_all(pool)
            .await?
            .iter()
            .map(approval)
            .collect())
    }
}
