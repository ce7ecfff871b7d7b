#include "storage/sqlite/migrations.h"

#include <sqlite3.h>

#include <memory>
#include <string>

namespace ztm::storage {
namespace {

constexpr Migration kMigrations[] = {
    {1, "create users", R"sql(
      CREATE TABLE users (
        id INTEGER PRIMARY KEY,          -- assigned by the caller (53-bit Snowflake ids)
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        street_address TEXT NOT NULL,
        city TEXT NOT NULL,
        state TEXT NOT NULL,
        postal_code INTEGER NOT NULL,
        phone_numbers TEXT NOT NULL,     -- JSON array of strings
        version INTEGER NOT NULL,        -- 1 on create, +1 per update (ETag / If-Match)
        created_at TEXT NOT NULL,        -- ISO 8601 UTC
        updated_at TEXT NOT NULL
      );
    )sql"},
    {2, "create idempotency_keys", R"sql(
      CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY,            -- the client's Idempotency-Key (1..200 bytes)
        user_id INTEGER NOT NULL,        -- the user its POST /users created
        created_at TEXT NOT NULL         -- ISO 8601 UTC
      );
    )sql"},
    {3, "create accounts", R"sql(
      CREATE TABLE accounts (
        user_id INTEGER PRIMARY KEY,     -- the user's id; deleted with the user (trigger)
        email TEXT NOT NULL UNIQUE,      -- normalized: trimmed, lower-case
        password_hash TEXT NOT NULL,     -- Argon2id, libsodium crypto_pwhash_str format
        role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
        created_at TEXT NOT NULL         -- ISO 8601 UTC
      );
      CREATE TRIGGER users_delete_account AFTER DELETE ON users
      BEGIN DELETE FROM accounts WHERE user_id = OLD.id; END;
    )sql"},
    {4, "create photos, jobs, outbox", R"sql(
      CREATE TABLE photos (
        id INTEGER PRIMARY KEY,          -- Snowflake id, like users
        owner_id INTEGER NOT NULL,       -- the user; the photo goes with it (trigger)
        blob_key TEXT NOT NULL,          -- "<sha256>.<ext>" in the blob store
        content_type TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        source_id INTEGER NOT NULL,      -- the photo an edit made this from; 0 for uploads
        created_at TEXT NOT NULL
      );
      CREATE INDEX photos_blob_key ON photos(blob_key);
      CREATE TRIGGER users_delete_photos AFTER DELETE ON users
      BEGIN DELETE FROM photos WHERE owner_id = OLD.id; END;
      CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL,
        owner_id INTEGER NOT NULL,
        operations TEXT NOT NULL,        -- the validated edit steps, JSON
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
        result_photo_id INTEGER NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE outbox (              -- committed with its job; the relay publishes it
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
    )sql"},
    {5, "index photos and jobs in flight by owner (per-user quotas)", R"sql(
      CREATE INDEX photos_owner ON photos(owner_id);
      CREATE INDEX jobs_in_flight_owner ON jobs(owner_id) WHERE status IN ('queued', 'running');
    )sql"},
    // What changed, committed with the change (the CDN purges from it: docs/cdn.md). Triggers,
    // so that no write path can forget it; cascades (a user's photos) record theirs too.
    {6, "record changes to users and photos in the outbox", R"sql(
      ALTER TABLE outbox ADD COLUMN topic TEXT NOT NULL DEFAULT 'jobs';
      CREATE TRIGGER users_changed_insert AFTER INSERT ON users BEGIN
        INSERT INTO outbox(topic, payload, created_at) VALUES('change',
          json_object('op', 'insert', 'user', NEW.id), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
      END;
      CREATE TRIGGER users_changed_update AFTER UPDATE ON users BEGIN
        INSERT INTO outbox(topic, payload, created_at) VALUES('change',
          json_object('op', 'update', 'user', NEW.id), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
      END;
      CREATE TRIGGER users_changed_delete AFTER DELETE ON users BEGIN
        INSERT INTO outbox(topic, payload, created_at) VALUES('change',
          json_object('op', 'delete', 'user', OLD.id), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
      END;
      CREATE TRIGGER photos_changed_insert AFTER INSERT ON photos BEGIN
        INSERT INTO outbox(topic, payload, created_at) VALUES('change',
          json_object('op', 'insert', 'photo', NEW.id, 'owner', NEW.owner_id),
          strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
      END;
      -- The blob's key only when no photo uses it any more (its URL is then gone).
      CREATE TRIGGER photos_changed_delete AFTER DELETE ON photos BEGIN
        INSERT INTO outbox(topic, payload, created_at) VALUES('change',
          json_object('op', 'delete', 'photo', OLD.id, 'owner', OLD.owner_id, 'blob',
                      CASE WHEN EXISTS (SELECT 1 FROM photos WHERE blob_key = OLD.blob_key)
                           THEN NULL ELSE OLD.blob_key END),
          strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
      END;
    )sql"},
    // Business KPIs (docs/kpis.md). Purchases and activity are kept when their user is deleted:
    // a day's revenue and actives do not change afterwards.
    {7, "create purchases and activity; index jobs done by result (KPIs)", R"sql(
      CREATE TABLE purchases (
        id INTEGER PRIMARY KEY,          -- Snowflake id: its time is when it was bought
        user_id INTEGER NOT NULL,
        plan TEXT NOT NULL,              -- a plan of the catalogue (app/purchases.h)
        price_cents INTEGER NOT NULL CHECK (price_cents >= 0),  -- from the catalogue
        currency TEXT NOT NULL,          -- ISO 4217
        idempotency_key TEXT,            -- the client's Idempotency-Key; NULL when none
        created_at TEXT NOT NULL         -- ISO 8601 UTC
      );
      CREATE UNIQUE INDEX purchases_user_key ON purchases(user_id, idempotency_key);
      CREATE INDEX purchases_user ON purchases(user_id, id);
      CREATE TABLE activity (            -- users active (an authenticated request) on a UTC day
        day INTEGER NOT NULL,            -- days since 1970-01-01
        user_id INTEGER NOT NULL,
        PRIMARY KEY (day, user_id)
      ) WITHOUT ROWID;
      CREATE INDEX jobs_done_result ON jobs(result_photo_id) WHERE status = 'done';
    )sql"},
    // Lookup rows (storage/lookup_store.h): used by the sharded store; here for every backend.
    {8, "create lookups", R"sql(
      CREATE TABLE lookups (
        kind INTEGER NOT NULL,           -- LookupKind: 1 email, 2 idempotency key, 3 photo, 4 job
        key TEXT NOT NULL,
        user_id INTEGER NOT NULL,        -- the owner; may point at nothing after a crash
        PRIMARY KEY (kind, key)
      ) WITHOUT ROWID;
    )sql"},
    // Follows (storage/follow_store.h): each edge on both users' shards, the followers count in
    // split counters.
    {9, "create following, followers, follower_counts", R"sql(
      CREATE TABLE following (           -- on the follower's shard, written by follow()
        follower INTEGER NOT NULL,
        followee INTEGER NOT NULL,
        followee_name TEXT NOT NULL,     -- denormalised: the followee's display name
        created_at TEXT NOT NULL,
        PRIMARY KEY (follower, followee)
      ) WITHOUT ROWID;
      CREATE TABLE followers (           -- on the followee's shard, applied from the outbox
        followee INTEGER NOT NULL,
        follower INTEGER NOT NULL,
        follower_name TEXT NOT NULL,     -- denormalised: the follower's display name
        version INTEGER NOT NULL,        -- the outbox id of the change that set the row
        active INTEGER NOT NULL,         -- 0: removed, kept so that an older change loses
        was_active INTEGER NOT NULL,     -- active before that change (the count's delta)
        PRIMARY KEY (followee, follower)
      ) WITHOUT ROWID;
      CREATE TABLE follower_counts (     -- kFollowerCountSlots rows a user, summed on read
        user_id INTEGER NOT NULL,
        slot INTEGER NOT NULL,           -- mix64(follower) % 16
        n INTEGER NOT NULL,
        PRIMARY KEY (user_id, slot)
      ) WITHOUT ROWID;
    )sql"},
    // Follow versions per pair (storage/follow_store.h), kept in the follower's `following` row:
    // an unfollow keeps the row as a tombstone. The versions so far were outbox ids, which the
    // new ones (1, 2, ...) could not beat: every followers row starts again at 0, the messages
    // waiting in the outbox become the pair's versions 1..n in id order, and the row carries the
    // last (1 for an edge with none waiting; a tombstone for a pair whose last message is a
    // remove). As PostgreSQL's migration 12.
    {10, "versions per follow pair, kept in following by tombstones", R"sql(
      ALTER TABLE following ADD COLUMN version INTEGER NOT NULL DEFAULT 1;  -- bumped by each change
      ALTER TABLE following ADD COLUMN active INTEGER NOT NULL DEFAULT 1;   -- 0: unfollowed
      UPDATE outbox SET payload = json_set(outbox.payload, '$.version', p.n)
        FROM (SELECT id, row_number() OVER (PARTITION BY json_extract(payload, '$.follower'),
                                            json_extract(payload, '$.followee') ORDER BY id) AS n
              FROM outbox WHERE topic = 'follow') AS p
        WHERE outbox.id = p.id;
      INSERT INTO following(follower, followee, followee_name, created_at, version, active)
        SELECT json_extract(payload, '$.follower'), json_extract(payload, '$.followee'), '',
               strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), max(json_extract(payload, '$.version')), 0
        FROM outbox WHERE topic = 'follow'
        GROUP BY 1, 2
        ON CONFLICT(follower, followee) DO UPDATE SET version = excluded.version;
      UPDATE followers SET version = 0;
    )sql"},
};

Error error(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  const Errc code = primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR
                        ? Errc::unavailable
                        : Errc::internal;
  return Error{code, "sqlite migrations: " + std::string(what) + ": " + sqlite3_errmsg(db)};
}

Result<void> exec(sqlite3* db, std::string_view sql, std::string_view what) {
  const int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(db, rc, what);
  return {};
}

// Runs a query whose first column of its only row is an integer.
Result<int> query_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
  if (rc != SQLITE_OK) return error(db, rc, "reading the schema version");
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) return error(db, rc, "reading the schema version");
  return sqlite3_column_int(stmt.get(), 0);
}

// Ends the migration's transaction unless it committed, so an error leaves no half-applied step.
struct RollbackUnlessCommitted {
  sqlite3* db;
  bool committed = false;
  ~RollbackUnlessCommitted() {
    if (!committed) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
};

}  // namespace

std::span<const Migration> sqlite_migrations() {
  return kMigrations;
}

Result<int> sqlite_schema_version(sqlite3* db) {
  auto exists = query_int(
      db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists.ok() || *exists == 0) return exists;
  return query_int(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
}

Result<MigrationReport> sqlite_migrate(sqlite3* db) {
  if (auto r = exec(db,
                    "CREATE TABLE IF NOT EXISTS schema_migrations("
                    "version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)",
                    "creating schema_migrations");
      !r.ok()) {
    return std::move(r).error();
  }
  auto from = sqlite_schema_version(db);
  if (!from.ok()) return std::move(from).error();
  MigrationReport report{*from, *from};
  for (const Migration& m : kMigrations) {
    if (m.version <= report.to_version) continue;
    const std::string step =
        "migration " + std::to_string(m.version) + " (" + std::string(m.name) + ")";
    if (auto r = exec(db, "BEGIN IMMEDIATE", step); !r.ok()) return std::move(r).error();
    RollbackUnlessCommitted txn{db};
    // Another process may have applied it between our read and our write lock.
    auto current = sqlite_schema_version(db);
    if (!current.ok()) return std::move(current).error();
    if (*current < m.version) {
      if (auto r = exec(db, m.sql, step); !r.ok()) return std::move(r).error();
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(db,
                                  "INSERT INTO schema_migrations(version, name, applied_at) "
                                  "VALUES(?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                                  -1, &raw, nullptr);
      std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> insert(raw, sqlite3_finalize);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int(raw, 1, m.version);
      if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(raw, 2, m.name.data(), static_cast<int>(m.name.size()),
                               SQLITE_STATIC);
      if (rc == SQLITE_OK) rc = sqlite3_step(raw);
      if (rc != SQLITE_DONE) return error(db, rc, step);
    }
    if (auto r = exec(db, "COMMIT", step); !r.ok()) return std::move(r).error();
    txn.committed = true;
    report.to_version = *current < m.version ? m.version : *current;
  }
  return report;
}

}  // namespace ztm::storage
