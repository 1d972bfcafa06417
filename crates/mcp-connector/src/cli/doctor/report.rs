//! The doctor's findings: one line per check, for people or as JSON.

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Status {
    /// As Claude needs it.
    Pass,
    /// Claude would not connect (or not work) because of this.
    Fail,
    /// Works, but worth fixing.
    Warn,
    /// Not checked (needs a token, or an earlier step failed).
    Skip,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Self::Pass => "✓",
            Self::Fail => "✗",
            Self::Warn => "!",
            Self::Skip => "-",
        }
    }
}

/// One check: what was looked at, what was found and, for a problem, the
/// likely cause and the fix. `name` is a stable identifier (`certificate`,
/// `buffering`, `well-known`, `public_url`, `X-Forwarded-Proto`, …) that the
/// line starts with, so a failure says by name what is wrong.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Check {
    pub(super) name: &'static str,
    pub(super) status: Status,
    pub(super) detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fix: Option<String>,
}

/// Every check, in the order they ran.
#[derive(Debug, Default, Serialize)]
pub(super) struct Report {
    pub(super) url: String,
    pub(super) checks: Vec<Check>,
}

impl Report {
    pub(super) fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Pass, detail.into(), None);
    }

    pub(super) fn fail(
        &mut self,
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(name, Status::Fail, detail.into(), Some(fix.into()));
    }

    pub(super) fn warn(
        &mut self,
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(name, Status::Warn, detail.into(), Some(fix.into()));
    }

    pub(super) fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Status::Skip, detail.into(), None);
    }

    fn push(&mut self, name: &'static str, status: Status, detail: String, fix: Option<String>) {
        self.checks.push(Check {
            name,
            status,
            detail,
            fix,
        });
    }

    /// Whether Claude would connect: no check failed.
    pub(super) fn connects(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Fail)
    }

    pub(super) fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }

    /// Human-readable lines: `✓ name: detail`, and for problems the fix
    /// indented below.
    pub(super) fn text(&self) -> String {
        let mut out = format!("mcp-connector doctor {}\n", self.url);
        for c in &self.checks {
            out.push_str(&format!("{} {}: {}\n", c.status.mark(), c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("    fix: {fix}\n"));
            }
        }
        let verdict = if self.connects() {
            "Claude would connect".to_owned()
        } else {
            format!(
                "Claude would not connect: {} check(s) failed",
                self.failed()
            )
        };
        out.push_str(&verdict);
        out.push('\n');
        out
    }

    /// The report as JSON: `{url, connects, checks: [{name, status, detail, fix?}]}`.
    pub(super) fn json(&self) -> String {
        let value = serde_json::json!({
            "url": self.url,
            "connects": self.connects(),
            "checks": self.checks,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}
