#!/usr/bin/env bash
# Create (or reset) an example database and load its schema and seed data.
#
#   examples/seed.sh ENGINE EXAMPLE URL
#
#   ENGINE   sqlite | postgres | mysql   (mariadb is an alias of mysql)
#   EXAMPLE  a directory under examples/ (hr, support)
#   URL      the database, as the connector's [sources] url takes it:
#              sqlite://examples/hr/hr.db
#              postgres://postgres@127.0.0.1:5432/hr_example
#              mysql://root@127.0.0.1:3306/hr_example
#
# The database is created when it does not exist (PostgreSQL and MySQL: on the
# same server, with the URL's user); the example's tables are dropped and
# recreated, other tables are left alone. Files used: schema.ENGINE.sql, else
# schema.sql, then seed.ENGINE.sql, else seed.sql. Needs python3 (URL parsing,
# and SQLite when the sqlite3 shell is missing), psql for PostgreSQL, and the
# mariadb or mysql client for MySQL/MariaDB.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
engine="$1" example="$2" url="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$here/$example"
[[ -f "$dir/connector.toml" ]] || { echo "seed.sh: no example $example (expected $dir/connector.toml)" >&2; exit 2; }
[[ "$engine" == mariadb ]] && engine=mysql

# sql_file KIND: the engine's own file when the dialect differs, else the SQLite/common one.
sql_file() {
  local f="$dir/$1.$engine.sql"
  [[ -f "$f" ]] || f="$dir/$1.sql"
  [[ -f "$f" ]] || { echo "seed.sh: $example has no $1.sql" >&2; exit 2; }
  printf '%s\n' "$f"
}
schema="$(sql_file schema)"
seed="$(sql_file seed)"

# url_part FIELD: one part of $url (user, password, host, port, database).
url_part() {
  python3 - "$url" "$1" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
field = sys.argv[2]
value = {
    "user": p.username, "password": p.password, "host": p.hostname,
    "port": p.port, "database": p.path.lstrip("/"),
}[field]
print(u.unquote(str(value)) if value is not None else "")
PY
}

case "$engine" in
  sqlite)
    path="${url#sqlite://}"
    path="${path#sqlite:}"
    path="${path%%\?*}"
    [[ -n "$path" && "$path" != "$url" ]] || { echo "seed.sh: expected sqlite://PATH, got $url" >&2; exit 2; }
    mkdir -p "$(dirname "$path")"
    if command -v sqlite3 >/dev/null 2>&1; then
      cat "$schema" "$seed" | sqlite3 -bail "$path"
    else
      python3 - "$path" "$schema" "$seed" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for f in sys.argv[2:]:
    db.executescript(open(f, encoding="utf-8").read())
db.commit()
PY
    fi
    ;;
  postgres)
    [[ "$url" == postgres://* || "$url" == postgresql://* ]] || { echo "seed.sh: expected postgres://…, got $url" >&2; exit 2; }
    db="$(url_part database)"
    [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "seed.sh: database name '$db' is not a plain identifier" >&2; exit 2; }
    # Create the database from the server's maintenance database when missing.
    admin="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/postgres")))' "$url")"
    if [[ -z "$(psql "$admin" -qAtX -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
      psql "$admin" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
    fi
    psql "$url" -qX -v ON_ERROR_STOP=1 --single-transaction -f "$schema" -f "$seed" >/dev/null \
      2> >(grep -v 'NOTICE:' >&2)
    ;;
  mysql)
    [[ "$url" == mysql://* || "$url" == mariadb://* ]] || { echo "seed.sh: expected mysql://…, got $url" >&2; exit 2; }
    client="$(command -v mariadb || command -v mysql || true)"
    [[ -n "$client" ]] || { echo "seed.sh: needs the mariadb or mysql client" >&2; exit 2; }
    db="$(url_part database)"
    [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "seed.sh: database name '$db' is not a plain identifier" >&2; exit 2; }
    args=(--protocol=TCP -h "$(url_part host)" -P "$(url_part port | sed 's/^$/3306/')" -u "$(url_part user)")
    # The password goes through the environment, not the command line (ps).
    MYSQL_PWD="$(url_part password)" "$client" "${args[@]}" \
      -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4"
    cat "$schema" "$seed" | MYSQL_PWD="$(url_part password)" "$client" "${args[@]}" "$db"
    ;;
  *)
    echo "seed.sh: ENGINE is sqlite, postgres or mysql (mariadb), not $engine" >&2
    exit 2
    ;;
esac
echo "seeded $example ($engine): $(basename "$schema") + $(basename "$seed")"
