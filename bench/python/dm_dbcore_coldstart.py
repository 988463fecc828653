"""The Python original's cold start: a connection module written as the pattern describes
(defaults + environment, password from ~/.pgpass, URL.create, DatabaseConnection with a
metadata cache, session_scope), one query. Run as a whole process by `bench api`."""
import os

from sqlalchemy import text
from sqlalchemy.engine import URL

from dm_dbcore import DatabaseConnection, session_scope

config = {
    "host": os.environ.get("PROJECT_DB_HOST", "127.0.0.1"),
    "port": int(os.environ.get("PROJECT_DB_PORT", "5432")),
    "user": os.environ.get("PROJECT_DB_USER", "app"),
    "database": os.environ.get("PROJECT_DB_DATABASE", "project"),
    "password": os.environ.get("PROJECT_DB_PASSWORD", ""),
}


def split_unescaped(line):
    fields, current, escaped = [], "", False
    for ch in line:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append(current)
            current = ""
        else:
            current += ch
    fields.append(current)
    return fields


def pgpass_password(cfg):
    path = os.path.expanduser(os.environ.get("PROJECT_DB_PGPASS", "~/.pgpass"))
    want = [cfg["host"], str(cfg["port"]), cfg["database"], cfg["user"]]
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = split_unescaped(line)
            if len(fields) >= 5 and all(p == "*" or p == w for p, w in zip(fields[:4], want)):
                return fields[4]
    return None


if not config["password"]:
    config["password"] = pgpass_password(config)

url = URL.create(
    "postgresql+psycopg",
    username=config["user"],
    password=config["password"] or None,
    host=config["host"],
    port=config["port"],
    database=config["database"],
)
db = DatabaseConnection(
    database_connection_string=url.render_as_string(hide_password=False),
    cache_name="bench_metadata.pickle",
)
with session_scope(db) as session:
    value = session.execute(text("select v from public.kv where id = 1")).scalar()
assert value == "value 1", value
