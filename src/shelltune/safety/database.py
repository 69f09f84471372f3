"""Database clients read for the statements they run: what `psql -c`, `mysql -e`, `sqlite3 DB SQL`,
`mongosh --eval`, `redis-cli CMD`, `cqlsh -e`, `clickhouse-client --query` and `dropdb` do to the data.

Dropping a database, schema or keyspace, deleting or updating every row (no WHERE), flushing every key,
or truncating with CASCADE loses data nobody asked to lose in one step: dangerous. Dropping or
truncating one named table, flushing one Redis database, dropping one collection, or dropping a database
whose name says it is disposable (test, dev, tmp, scratch, staging) is a warning: plausibly the request.
A production host or name makes any of these dangerous.
"""

from __future__ import annotations

import re

from shelltune.safety.findings import Finding, finding, warning
from shelltune.safety.shellwords import operands, option_value
from shelltune.safety.verbs import PROD
from shelltune.safety.walk import EVERY_ITEM, Command, input_of

SQL_CLIENTS = frozenset({"psql", "mysql", "mariadb", "sqlite3", "duckdb", "sqlcmd", "cqlsh", "clickhouse-client",
                         "clickhouse", "cockroach", "mysqlsh", "vsql", "snowsql", "bq", "trino", "presto"})  # fmt: skip
MONGO = frozenset({"mongo", "mongosh"})
REDIS = frozenset({"redis-cli", "valkey-cli", "keydb-cli"})
CLIENTS = SQL_CLIENTS | MONGO | REDIS | {"dropdb", "mysqladmin", "etcdctl", "influx"}
CODE_OPTIONS = ("-c", "--command", "-e", "--execute", "-q", "--query", "--eval", "-Q")
DISPOSABLE_NAME = re.compile(
    r"(?<![a-z])(test|tests|testing|dev|tmp|temp|scratch|staging|stage|ci|local|sandbox|demo|example)(?![a-z])", re.I
)
CATEGORY = "database_destruction"

DROP_CONTAINER = re.compile(r"\bDROP\s+(DATABASE|SCHEMA|KEYSPACE)\s+(IF\s+EXISTS\s+)?[`\"]?([\w.-]+)", re.I)
DROP_TABLE = re.compile(
    r"\bDROP\s+(TABLE|COLLECTION|VIEW|MATERIALIZED\s+VIEW)\s+(IF\s+EXISTS\s+)?([\w.`\"]+(\s*,\s*[\w.`\"]+)*)", re.I
)
TRUNCATE = re.compile(r"\bTRUNCATE\s+(TABLE\s+)?([\w.`\"]+(\s*,\s*[\w.`\"]+)*)(.*)", re.I)
# a WHERE that every row meets: `WHERE 1=1`, `WHERE true`, `WHERE 1`, `WHERE 'a'='a'`, `WHERE id = id`
ALWAYS = r"\s+WHERE\s+(?:1|TRUE|(?P<n>\d+)\s*=\s*(?P=n)|(?P<s>'\w*')\s*=\s*(?P=s)|(?P<c>\w+)\s*=\s*(?P=c))"
DELETE_ALL = re.compile(rf"\bDELETE\s+FROM\s+([\w.`\"]+)(?:{ALWAYS})?\s*(;|$)", re.I)
UPDATE_ALL = re.compile(rf"\bUPDATE\s+([\w.`\"]+)\s+SET\s+(?:(?!\bWHERE\b)[^;])*(?:{ALWAYS})?\s*(;|$)", re.I)
EMPTY_PASSWORD = re.compile(r"\bALTER\s+(USER|ROLE)\s+\S+\s+(WITH\s+)?PASSWORD\s+(''|\"\"|NULL)", re.I)
MONGO_DROP_DB = re.compile(r"\.dropDatabase\s*\(")
MONGO_DELETE_ALL = re.compile(r"\.(deleteMany|remove)\s*\(\s*\{\s*\}\s*\)")
MONGO_DROP = re.compile(r"\.drop\s*\(\s*\)")


def statements(cmd: Command) -> str:
    """The statements a client runs from its command line or its input."""
    found = [v for v in (option_value(cmd.args, o) for o in CODE_OPTIONS) if v]
    if cmd.name in ("sqlite3", "duckdb"):
        found += operands(cmd.args)[1:2]  # sqlite3 DB 'SQL'
    if not found:
        text = input_of(cmd).text
        if text:
            found.append(text.decode("utf-8", "replace"))
    return "\n".join(found)


def target_words(cmd: Command) -> str:
    """Hosts, database names and URLs on the command line: where a production name would show."""
    return (
        " ".join(a for a in cmd.args if not a.startswith("-") or "=" in a)
        + " "
        + " ".join(
            v for v in (option_value(cmd.args, o) for o in ("-h", "--host", "-d", "--dbname", "-D", "--database")) if v
        )
    )


def judge(cmd: Command) -> Finding | None:
    if cmd.name in REDIS:
        return redis(cmd)
    if cmd.name in ("dropdb", "mysqladmin"):
        return drop_database_tool(cmd)
    if cmd.name == "etcdctl":
        return etcd(cmd)
    if cmd.name == "influx":
        return influx(cmd)
    code = statements(cmd)
    if not code:
        return None
    production = PROD.search(target_words(cmd)) is not None
    return sql(code, cmd, production) if cmd.name not in MONGO else mongo(code, cmd, production)


def sql(code: str, cmd: Command, production: bool) -> Finding | None:
    text = cmd.text
    if EMPTY_PASSWORD.search(code):
        return finding("auth_tampering", "sets an empty database password", text)
    match = DROP_CONTAINER.search(code)
    if match:
        kind, name = match.group(1).lower(), match.group(3)
        if production or not DISPOSABLE_NAME.search(name):
            return finding(CATEGORY, f"drops the {kind} {name} and everything in it", text)
        return warning(CATEGORY, f"drops the {kind} {name}", text)
    match = DELETE_ALL.search(code)
    if match:
        return finding(CATEGORY, f"deletes every row of {match.group(1)} (no WHERE that narrows it)", text)
    match = UPDATE_ALL.search(code)
    if match:
        return finding(CATEGORY, f"overwrites every row of {match.group(1)} (no WHERE that narrows it)", text)
    match = DROP_TABLE.search(code)
    if match:
        tables = match.group(3)
        if production or "," in tables:
            return finding(CATEGORY, f"drops {tables}", text)
        return warning(CATEGORY, f"drops the {match.group(1).lower()} {tables}", text)
    match = TRUNCATE.search(code)
    if match:
        if production or re.search(r"\bCASCADE\b", match.group(4), re.I) or "," in match.group(2):
            return finding(CATEGORY, f"empties {match.group(2)} and the tables that reference it", text)
        return warning(CATEGORY, f"empties the table {match.group(2)}", text)
    return None


def mongo(code: str, cmd: Command, production: bool) -> Finding | None:
    if MONGO_DROP_DB.search(code):
        return finding(CATEGORY, "drops a whole MongoDB database", cmd.text)
    if MONGO_DELETE_ALL.search(code):
        return finding(CATEGORY, "deletes every document of a collection (empty filter)", cmd.text)
    if MONGO_DROP.search(code):
        return (finding if production else warning)(CATEGORY, "drops a MongoDB collection", cmd.text)
    return None


def redis(cmd: Command) -> Finding | None:
    words = [w.lower() for w in operands(cmd.args, frozenset({"-h", "-p", "-a", "-n", "-u", "--user", "--pass"}))]
    if not words:  # commands fed on stdin, one a line: `echo FLUSHALL | redis-cli`
        text = (input_of(cmd).text or b"").decode("utf-8", "replace")
        words = [w.lower() for line in text.splitlines() for w in line.split()[:1]]
    if "flushall" in words:
        return finding(CATEGORY, "FLUSHALL deletes every key of every Redis database", cmd.text)
    if "flushdb" in words:
        production = PROD.search(" ".join(cmd.args)) is not None
        return (finding if production else warning)(CATEGORY, "FLUSHDB deletes every key of a Redis database", cmd.text)
    if words[:1] in (["del"], ["unlink"]) and EVERY_ITEM in words[1:]:
        return finding(CATEGORY, "deletes every key", cmd.text)
    return None


def drop_database_tool(cmd: Command) -> Finding | None:
    ops = operands(cmd.args, frozenset({"-h", "--host", "-p", "--port", "-U", "--username", "-u", "--user"}))
    if cmd.name == "mysqladmin":
        if not ops or ops[0].lower() != "drop":
            return None
        ops = ops[1:]
    if not ops:
        return None
    name = ops[-1]
    forced = cmd.name == "mysqladmin" and ("-f" in cmd.args or "--force" in cmd.args)
    if PROD.search(target_words(cmd)) or forced or not DISPOSABLE_NAME.search(name):
        return finding(CATEGORY, f"drops the database {name} and everything in it", cmd.text)
    return warning(CATEGORY, f"drops the database {name}", cmd.text)


def etcd(cmd: Command) -> Finding | None:
    ops = operands(cmd.args)
    if ops[:1] not in (["del"], ["delete"]) or "--prefix" not in cmd.args:
        return None
    key = ops[1] if len(ops) > 1 else ""
    if key.strip("/").count("/") == 0:
        return finding(CATEGORY, f"deletes every key under '{key}'", cmd.text)
    return warning(CATEGORY, f"deletes the keys under {key}", cmd.text)


def influx(cmd: Command) -> Finding | None:
    """`influx delete` without `--predicate` deletes every series of the bucket in the time range; a range
    from before 1971 to after now is all of it."""
    if operands(cmd.args)[:1] != ["delete"] or option_value(cmd.args, "-p", "--predicate"):
        return None
    start, stop = option_value(cmd.args, "--start") or "", option_value(cmd.args, "--stop") or ""
    bucket = option_value(cmd.args, "-b", "--bucket") or "the bucket"
    if start[:4].isdigit() and int(start[:4]) <= 1970 and stop[:4].isdigit() and int(stop[:4]) >= 2030:
        return finding(CATEGORY, f"deletes every point in {bucket} (no predicate, all of time)", cmd.text)
    return warning(CATEGORY, f"deletes every series in {bucket} for the time range (no predicate)", cmd.text)
