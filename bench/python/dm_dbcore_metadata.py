"""The Python side of `bench metadata`: dm-dbcore's metadata path on the same database.

Reflection is SQLAlchemy's `MetaData().reflect(schema=...)`, which dm-dbcore calls. The cache
hit is dm-dbcore's `MetadataCache.read()`: its schema hash over information_schema.columns
(with the schema named explicitly: dm-dbcore's own current_schema() points at a schema that
does not exist, see SERVERS.md) compared with the stored one, then `pickle.load`.
Prints one JSON object with the timings in seconds.
"""
import hashlib
import json
import pickle
import sys
import time

from sqlalchemy import MetaData, create_engine, text

url, reflect_runs, hit_runs, cache_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
engine = create_engine(url)
with engine.connect() as connection:
    connection.execute(text("select 1"))


def schema_hash(connection):
    rows = connection.execute(
        text(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = :schema ORDER BY table_name, ordinal_position"
        ),
        {"schema": "public"},
    )
    hash_input = ""
    for row in rows:
        hash_input += "|".join(str(v) for v in row) + "|"
    return hashlib.md5(hash_input.encode()).hexdigest()


reflect_times = []
for _ in range(reflect_runs):
    started = time.perf_counter()
    metadata = MetaData()
    metadata.reflect(bind=engine, schema="public")
    reflect_times.append(time.perf_counter() - started)

with open(cache_path, "wb") as cache_file:
    pickle.dump(metadata, cache_file)
with engine.connect() as connection:
    stored_hash = schema_hash(connection)

hit_times = []
for _ in range(hit_runs):
    started = time.perf_counter()
    with engine.connect() as connection:
        if schema_hash(connection) != stored_hash:
            raise SystemExit("the schema changed during the benchmark")
    with open(cache_path, "rb") as cache_file:
        loaded = pickle.load(cache_file)
    hit_times.append(time.perf_counter() - started)

print(json.dumps({"tables": len(loaded.tables), "reflect": reflect_times, "cache_hit": hit_times}))
