//! `[audit]`: validated into [`AuditConfig`].

/// `[audit]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Record tool calls. On by default: turning it off is a deliberate act.
    pub enabled: bool,
    /// Argument field names whose values are replaced (case-insensitive, at
    /// any depth).
    pub redact: Vec<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            redact: ["password", "token", "secret"].map(String::from).to_vec(),
        }
    }
}

impl AuditConfig {
    /// Validate `[audit]`; the error names the key.
    pub fn from_file(section: super::file::AuditSection) -> Result<Self, (&'static str, String)> {
        let d = Self::default();
        let redact = match section.redact {
            None => d.redact,
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for name in list {
                    let name = name.trim().to_owned();
                    if name.is_empty() {
                        return Err(("audit.redact", "field names must not be empty".into()));
                    }
                    out.push(name);
                }
                out
            }
        };
        Ok(Self {
            enabled: section.enabled.unwrap_or(d.enabled),
            redact,
        })
    }
}
