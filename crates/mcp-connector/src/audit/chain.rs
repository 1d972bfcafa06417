//! The hash chain: canonical form, hash, and the check `audit verify` runs.
//!
//! The canonical form of a row is a JSON array of a version tag and every
//! column in a fixed order, `prev_hash` last. JSON gives unambiguous
//! escaping and field boundaries, and an array has no key order to agree on,
//! so anyone can recompute a hash from an `audit export` line.

use mcp_connector_security::sha256_hex;
use serde_json::json;

use super::record::{AuditEvent, AuditRecord, rfc3339_millis};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Versions the canonical form, so that a future change cannot make an old
/// row verify under new rules.
const FORM: &str = "mcp-connector-audit-v1";

/// The canonical serialisation of `r` (every field but `hash`).
pub fn canonical(r: &AuditRecord) -> String {
    json!([
        FORM,
        r.seq,
        r.time,
        r.kind,
        r.subject,
        r.client,
        r.session_id,
        r.source_ip,
        r.tool,
        r.arguments,
        r.result_sha256,
        r.result_size,
        r.is_error,
        r.error,
        r.duration_ms,
        r.flags,
        r.prev_hash,
    ])
    .to_string()
}

/// The hash `r` must carry.
pub fn hash(r: &AuditRecord) -> String {
    sha256_hex(canonical(r).as_bytes())
}

// Sealing lives with the hash, so that a record does not need the chain.
impl AuditRecord {
    /// The row `event` becomes at `seq` after `prev_hash`, hash included.
    pub fn seal(event: AuditEvent, seq: i64, prev_hash: &str) -> Self {
        let mut record = Self {
            seq,
            time: rfc3339_millis(event.time),
            kind: event.kind.as_str().to_owned(),
            subject: event.subject,
            client: event.client,
            session_id: event.session_id,
            source_ip: event.source_ip.map(|ip| ip.to_string()),
            tool: event.tool,
            arguments: event.arguments.map(|a| a.to_string()),
            result_sha256: event.result.as_ref().map(|(digest, _)| digest.clone()),
            result_size: event
                .result
                .map(|(_, size)| i64::try_from(size).unwrap_or(i64::MAX)),
            is_error: event.is_error,
            error: event.error,
            duration_ms: event
                .duration_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            flags: event.flags.map(|f| serde_json::Value::from(f).to_string()),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        record.hash = hash(&record);
        record
    }
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
pub struct ChainBreak {
    /// The first row that does not verify (for a deleted row, its number).
    pub seq: i64,
    pub reason: &'static str,
}

/// Checks rows in `seq` order, one at a time, so a log of any length is
/// verified in constant memory.
#[derive(Debug)]
pub struct ChainCheck {
    next_seq: i64,
    prev_hash: String,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainCheck {
    /// Check the next row.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        if r.seq != self.next_seq {
            let (seq, reason) = if r.seq > self.next_seq {
                (self.next_seq, "row is missing (deleted)")
            } else {
                (r.seq, "row is out of order")
            };
            return Err(ChainBreak { seq, reason });
        }
        if hash(r) != r.hash {
            return Err(ChainBreak {
                seq: r.seq,
                reason: "row does not match its hash (edited or moved)",
            });
        }
        if r.prev_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: r.seq,
                reason: "prev_hash does not match the row before it (a row was removed or replaced)",
            });
        }
        self.next_seq = r.seq.saturating_add(1);
        self.prev_hash.clone_from(&r.hash);
        Ok(())
    }

    /// How many rows have verified.
    pub fn count(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last verified row: an anchor to keep elsewhere, since
    /// removing rows from the end cannot be seen from inside the log.
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{AuditEvent, AuditKind};
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent::now(AuditKind::ToolCall);
                e.tool = Some(format!("tool{seq}"));
                let r = AuditRecord::seal(e, seq, &prev);
                prev.clone_from(&r.hash);
                r
            })
            .collect()
    }

    fn verify(rows: &[AuditRecord]) -> Result<i64, ChainBreak> {
        let mut check = ChainCheck::default();
        for r in rows {
            check.push(r)?;
        }
        Ok(check.count())
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].tool = Some("other".into());
        assert_eq!(verify(&rows).map_err(|b| b.seq), Err(3));
    }

    #[test]
    fn deleted_row_is_named() {
        let mut rows = chain(5);
        rows.remove(3);
        assert_eq!(verify(&rows).map_err(|b| b.seq), Err(4));
    }

    #[test]
    fn swapped_rows_are_named() {
        let mut rows = chain(5);
        rows.swap(1, 2);
        // Swapping the seq numbers too leaves each row's hash wrong.
        rows[1].seq = 2;
        rows[2].seq = 3;
        assert_eq!(verify(&rows).map_err(|b| b.seq), Err(2));
    }

    #[test]
    fn renumbered_rows_after_a_deletion_are_caught() {
        let mut rows = chain(5);
        rows.remove(1);
        for (i, r) in rows.iter_mut().enumerate() {
            r.seq = i64::try_from(i).unwrap() + 1;
        }
        assert_eq!(verify(&rows).map_err(|b| b.seq), Err(2));
    }
}
