//! Opaque, sealed cursors for `*/list` pagination.
//!
//! A cursor is an offset sealed with the server secret and bound to the list
//! it came from, so a client cannot forge one, and a cursor for `tools/list`
//! is rejected by `prompts/list`. An invalid cursor is `-32602` (MCP
//! pagination utility).

use mcp_connector_security::Sealer;
use rmcp::ErrorData as McpError;
use rmcp::model::Cursor;

/// Items per page of every list method.
pub const PAGE_SIZE: usize = 100;

/// One page of `items` starting at `cursor`, and the cursor of the next page.
pub fn page<T: Clone>(
    sealer: &Sealer,
    list: &str,
    items: &[T],
    cursor: Option<&str>,
) -> Result<(Vec<T>, Option<Cursor>), McpError> {
    let start = match cursor {
        None => 0,
        Some(c) => decode(sealer, list, c)?,
    };
    if start > items.len() {
        return Err(invalid_cursor());
    }
    let end = (start + PAGE_SIZE).min(items.len());
    let next = (end < items.len()).then(|| sealer.seal(list, &(end as u64).to_be_bytes()));
    Ok((items[start..end].to_vec(), next))
}

fn decode(sealer: &Sealer, list: &str, cursor: &str) -> Result<usize, McpError> {
    let bytes = sealer.open(list, cursor).map_err(|_| invalid_cursor())?;
    let arr: [u8; 8] = bytes.try_into().map_err(|_| invalid_cursor())?;
    usize::try_from(u64::from_be_bytes(arr)).map_err(|_| invalid_cursor())
}

fn invalid_cursor() -> McpError {
    McpError::invalid_params("invalid cursor", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_through_and_refuses_foreign_cursors() {
        let s = Sealer::new(&[7; 32]);
        let items: Vec<u32> = (0..250).collect();
        let (p1, c1) = page(&s, "tools", &items, None).expect("first page");
        assert_eq!(p1.len(), PAGE_SIZE);
        let c1 = c1.expect("more pages");
        let (p2, c2) = page(&s, "tools", &items, Some(&c1)).expect("second page");
        assert_eq!(p2[0], 100);
        let (p3, c3) = page(&s, "tools", &items, c2.as_deref()).expect("third page");
        assert_eq!(p3.len(), 50);
        assert!(c3.is_none());
        assert!(page(&s, "prompts", &items, Some(&c1)).is_err());
        assert!(page(&s, "tools", &items, Some("garbage")).is_err());
    }
}
