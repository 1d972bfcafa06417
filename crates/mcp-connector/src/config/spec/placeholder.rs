//! `:name` placeholders in SQL, found without parsing the SQL itself.
//!
//! The scanner knows only what can hide a colon: quoted strings and
//! identifiers, comments, PostgreSQL dollar quotes and `::` casts. Each
//! placeholder becomes one positional parameter of the engine (`?` or `$n`),
//! so a name used twice is bound twice and values are never spliced in.

use super::Engine;

/// A piece of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Sql(String),
    /// A placeholder and its byte offset in the statement.
    Param(String, usize),
}

/// Split `sql` into text and placeholders, with `engine`'s lexical rules
/// (backslash escapes and `#` comments in MySQL, dollar quotes in PostgreSQL).
pub fn scan(sql: &str, engine: Engine) -> Vec<Segment> {
    let mysql = engine == Engine::MySql;
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => i = skip_quoted(b, i, q, mysql),
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_until(b, i, b"\n"),
            b'#' if mysql => i = skip_until(b, i, b"\n"),
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_until(b, i + 2, b"*/"),
            b'$' if engine == Engine::Postgres => i = skip_dollar_quote(b, i),
            b':' if b.get(i + 1) == Some(&b':') => i += 2,
            b':' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                && (i == 0 || !is_ident(b[i - 1])) =>
            {
                let mut end = i + 1;
                while end < b.len() && is_ident(b[end]) {
                    end += 1;
                }
                if start < i {
                    out.push(Segment::Sql(sql[start..i].to_owned()));
                }
                out.push(Segment::Param(sql[i + 1..end].to_owned(), i));
                start = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    if start < sql.len() {
        out.push(Segment::Sql(sql[start..].to_owned()));
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Past the closing quote (a doubled quote is an escaped one).
fn skip_quoted(b: &[u8], open: usize, q: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < b.len() {
        if backslash_escapes && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn skip_until(b: &[u8], from: usize, end: &[u8]) -> usize {
    b[from.min(b.len())..]
        .windows(end.len())
        .position(|w| w == end)
        .map_or(b.len(), |p| from + p + end.len())
}

/// `$tag$ … $tag$` (PostgreSQL); a lone `$` or `$1` is just text.
fn skip_dollar_quote(b: &[u8], open: usize) -> usize {
    let mut j = open + 1;
    while j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
        j += 1;
    }
    if b.get(j) != Some(&b'$') {
        return open + 1;
    }
    let tag = &b[open..=j];
    skip_until(b, j + 1, tag)
}

/// The placeholder names in order of appearance (repeats included).
pub fn names(segments: &[Segment]) -> impl Iterator<Item = (&str, usize)> {
    segments.iter().filter_map(|s| match s {
        Segment::Param(name, at) => Some((name.as_str(), *at)),
        Segment::Sql(_) => None,
    })
}

/// The statement in `engine`'s placeholder syntax and the parameter name
/// of each position.
pub fn render(segments: &[Segment], engine: Engine) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut order = Vec::new();
    for s in segments {
        match s {
            Segment::Sql(text) => sql.push_str(text),
            Segment::Param(name, _) => {
                order.push(name.clone());
                match engine {
                    Engine::Postgres => {
                        sql.push('$');
                        sql.push_str(&order.len().to_string());
                    }
                    Engine::Sqlite | Engine::MySql => sql.push('?'),
                }
            }
        }
    }
    (sql, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_in(sql: &str, engine: Engine) -> Vec<String> {
        names(&scan(sql, engine))
            .map(|(n, _)| n.to_owned())
            .collect()
    }

    fn params(sql: &str) -> Vec<String> {
        params_in(sql, Engine::Postgres)
    }

    #[test]
    fn lexical_rules_follow_the_engine() {
        assert_eq!(
            params_in("SELECT 'a\\' , :x", Engine::MySql),
            Vec::<String>::new()
        );
        assert_eq!(params_in("SELECT 'C:\\' , :x", Engine::Postgres), ["x"]);
        assert_eq!(params_in("SELECT 1 # :no\n, :yes", Engine::MySql), ["yes"]);
        assert_eq!(params_in("SELECT 1 # :yes", Engine::Postgres), ["yes"]);
        assert_eq!(params_in("SELECT $$ :x $$", Engine::Sqlite), ["x"]);
    }

    #[test]
    fn finds_placeholders_outside_quotes_comments_and_casts() {
        assert_eq!(
            params("SELECT * FROM t WHERE a = :a AND b = :b_2"),
            ["a", "b_2"]
        );
        assert_eq!(
            params("SELECT ':no', \":no\", `:no` FROM t WHERE x = :yes"),
            ["yes"]
        );
        assert_eq!(params("SELECT 'it''s :no' || :yes"), ["yes"]);
        assert_eq!(params("SELECT 1 -- :no\n, :yes /* :no */"), ["yes"]);
        assert_eq!(params("SELECT :d::date, x::text FROM t"), ["d"]);
        assert_eq!(params("SELECT $$ :no $$, $f$ :no $f$, $1, :yes"), ["yes"]);
        assert_eq!(params("SELECT a:b FROM t"), Vec::<String>::new());
        assert_eq!(params("SELECT :a, :a"), ["a", "a"]);
        assert_eq!(params("SELECT :1"), Vec::<String>::new());
    }

    #[test]
    fn renders_each_engine() {
        let s = scan(
            "SELECT * FROM t WHERE a = :a OR b = :a AND c = ':c'",
            Engine::Sqlite,
        );
        assert_eq!(
            render(&s, Engine::Postgres),
            (
                "SELECT * FROM t WHERE a = $1 OR b = $2 AND c = ':c'".to_owned(),
                vec!["a".to_owned(), "a".to_owned()]
            )
        );
        assert_eq!(
            render(&s, Engine::MySql).0,
            "SELECT * FROM t WHERE a = ? OR b = ? AND c = ':c'"
        );
        assert_eq!(render(&s, Engine::Sqlite).1.len(), 2);
    }

    #[test]
    fn unterminated_quotes_do_not_panic() {
        assert_eq!(params("SELECT ':a"), Vec::<String>::new());
        assert_eq!(params("SELECT /* :a"), Vec::<String>::new());
        assert_eq!(params("SELECT $x$ :a"), Vec::<String>::new());
        assert_eq!(params(":a"), ["a"]);
    }
}
