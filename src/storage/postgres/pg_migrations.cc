#include "storage/postgres/pg_migrations.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <memory>

#include "postgres/connection.h"
#include "postgres/session.h"
#include "storage/lookup_store.h"

namespace ztm::storage {
namespace {

constexpr Migration kMigrations[] = {
    {1, "create users", R"sql(
      CREATE TABLE users (
        id bigint PRIMARY KEY,            -- assigned by the caller (53-bit Snowflake ids)
        first_name text NOT NULL,
        last_name text NOT NULL,
        street_address text NOT NULL,
        city text NOT NULL,
        state text NOT NULL,
        postal_code bigint NOT NULL,
        phone_numbers jsonb NOT NULL      -- array of strings, in order
          CHECK (jsonb_typeof(phone_numbers) = 'array'),
        version bigint NOT NULL,          -- 1 on create, +1 per update (ETag / If-Match)
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    )sql"},
    {2, "create idempotency_keys", R"sql(
      CREATE TABLE idempotency_keys (
        key text PRIMARY KEY,             -- the client's Idempotency-Key (1..200 bytes)
        user_id bigint NOT NULL,          -- the user its POST /users created
        created_at timestamptz NOT NULL DEFAULT now()
      );
    )sql"},
    {3, "create accounts", R"sql(
      CREATE TABLE accounts (
        user_id bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        email text NOT NULL UNIQUE,       -- normalized: trimmed, lower-case
        password_hash text NOT NULL,      -- Argon2id, libsodium crypto_pwhash_str format
        role text NOT NULL CHECK (role IN ('user', 'admin')),
        created_at timestamptz NOT NULL DEFAULT now()
      );
    )sql"},
    {4, "create photos, jobs, outbox", R"sql(
      CREATE TABLE photos (
        id bigint PRIMARY KEY,            -- Snowflake id, like users
        owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        blob_key text NOT NULL,           -- "<sha256>.<ext>" in the blob store
        content_type text NOT NULL,
        width integer NOT NULL,
        height integer NOT NULL,
        bytes bigint NOT NULL,
        source_id bigint NOT NULL,        -- the photo an edit made this from; 0 for uploads
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX photos_blob_key ON photos(blob_key);
      CREATE TABLE jobs (
        id bigint PRIMARY KEY,
        photo_id bigint NOT NULL,
        owner_id bigint NOT NULL,
        operations text NOT NULL,         -- the validated edit steps, JSON
        status text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
        result_photo_id bigint NOT NULL DEFAULT 0,
        error text NOT NULL DEFAULT '',
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE outbox (               -- committed with its job; the relay publishes it
        id bigserial PRIMARY KEY,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    )sql"},
    {5, "index photos and jobs in flight by owner (per-user quotas)", R"sql(
      CREATE INDEX photos_owner ON photos(owner_id) INCLUDE (bytes);
      CREATE INDEX jobs_in_flight_owner ON jobs(owner_id) WHERE status IN ('queued', 'running');
    )sql"},
    {6, "index photos by owner and id (a user's photo pages)", R"sql(
      CREATE INDEX photos_owner_id ON photos(owner_id, id);
    )sql"},
    // What changed, committed with the change (the CDN purges from it: docs/cdn.md). Triggers,
    // so that no write path can forget it; cascades (a user's photos) record theirs too.
    {7, "record changes to users and photos in the outbox", R"sql(
      ALTER TABLE outbox ADD COLUMN topic text NOT NULL DEFAULT 'jobs';
      CREATE FUNCTION ztm_user_changed() RETURNS trigger LANGUAGE plpgsql AS $f$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          INSERT INTO outbox(topic, payload)
            VALUES ('change', jsonb_build_object('op', 'delete', 'user', OLD.id)::text);
        ELSE
          INSERT INTO outbox(topic, payload)
            VALUES ('change', jsonb_build_object('op', lower(TG_OP), 'user', NEW.id)::text);
        END IF;
        RETURN NULL;
      END $f$;
      CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION ztm_user_changed();
      -- The blob's key only when no photo uses it any more (its URL is then gone).
      CREATE FUNCTION ztm_photo_changed() RETURNS trigger LANGUAGE plpgsql AS $f$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          INSERT INTO outbox(topic, payload) VALUES ('change', jsonb_build_object(
            'op', 'delete', 'photo', OLD.id, 'owner', OLD.owner_id, 'blob',
            CASE WHEN EXISTS (SELECT 1 FROM photos WHERE blob_key = OLD.blob_key)
                 THEN NULL ELSE OLD.blob_key END)::text);
        ELSE
          INSERT INTO outbox(topic, payload) VALUES ('change', jsonb_build_object(
            'op', 'insert', 'photo', NEW.id, 'owner', NEW.owner_id)::text);
        END IF;
        RETURN NULL;
      END $f$;
      CREATE TRIGGER photos_changed AFTER INSERT OR DELETE ON photos
        FOR EACH ROW EXECUTE FUNCTION ztm_photo_changed();
    )sql"},
    // Business KPIs (docs/kpis.md). Purchases and activity are kept when their user is deleted
    // (no foreign key): a day's revenue and actives do not change afterwards.
    {8, "create purchases and activity; index jobs done by result (KPIs)", R"sql(
      CREATE TABLE purchases (
        id bigint PRIMARY KEY,            -- Snowflake id: its time is when it was bought
        user_id bigint NOT NULL,
        plan text NOT NULL,               -- a plan of the catalogue (app/purchases.h)
        price_cents bigint NOT NULL CHECK (price_cents >= 0),  -- from the catalogue
        currency text NOT NULL,           -- ISO 4217
        idempotency_key text,             -- the client's Idempotency-Key; NULL when none
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX purchases_user_key ON purchases(user_id, idempotency_key);
      CREATE INDEX purchases_user ON purchases(user_id, id);
      CREATE TABLE activity (             -- users active (an authenticated request) on a UTC day
        day integer NOT NULL,             -- days since 1970-01-01
        user_id bigint NOT NULL,
        PRIMARY KEY (day, user_id)
      );
      CREATE INDEX jobs_done_result ON jobs(result_photo_id) WHERE status = 'done';
    )sql"},
    // Lookup rows (storage/lookup_store.h): used by the sharded store; here for every backend.
    {9, "create lookups", R"sql(
      CREATE TABLE lookups (
        kind smallint NOT NULL,           -- LookupKind: 1 email, 2 idempotency key, 3 photo, 4 job
        key text NOT NULL,
        user_id bigint NOT NULL,          -- the owner; may point at nothing after a crash
        PRIMARY KEY (kind, key)
      );
    )sql"},  // Follows (storage/follow_store.h): each edge on both users' shards, the followers
             // count in
    // split counters.
    {10, "create following, followers, follower_counts", R"sql(
      CREATE TABLE following (            -- on the follower's shard, written by follow()
        follower bigint NOT NULL,
        followee bigint NOT NULL,
        followee_name text NOT NULL,      -- denormalised: the followee's display name
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (follower, followee)
      );
      CREATE TABLE followers (            -- on the followee's shard, applied from the outbox
        followee bigint NOT NULL,
        follower bigint NOT NULL,
        follower_name text NOT NULL,      -- denormalised: the follower's display name
        version bigint NOT NULL,          -- the outbox id of the change that set the row
        active boolean NOT NULL,          -- false: removed, kept so that an older change loses
        was_active boolean NOT NULL,      -- active before that change (the count's delta)
        PRIMARY KEY (followee, follower)
      );
      CREATE TABLE follower_counts (      -- kFollowerCountSlots rows a user, summed on read
        user_id bigint NOT NULL,
        slot smallint NOT NULL,           -- mix64(follower) % 16
        n bigint NOT NULL,
        PRIMARY KEY (user_id, slot)
      );
    )sql"},
    // Buckets (docs/sharding.md): every row a user owns says its bucket, so that a bucket can
    // move to another shard with PostgreSQL's logical replication (a publication filtered on
    // `bucket`, which PostgreSQL 15 allows only over replica-identity columns: hence the unique
    // (bucket, primary key) index as each table's replica identity). A trigger sets the column
    // (no write path can forget it; ztm_bucket is bucket_of in SQL, mover_test pins both to the
    // same values) and is the shard-side fence: a write to a bucket in `disowned_buckets`
    // (moved away, or not yet moved here) fails with SQLSTATE ZT001 and changes nothing.
    // Logical replication's apply does not fire triggers, so a move's copy is never fenced.
    // Lookup rows are placed by their key's hash (lookup_placement), which the writer passes.
    {11, "bucket every owned row; the shard-side fence", R"sql(
      CREATE FUNCTION ztm_bucket(id bigint) RETURNS smallint
      LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $f$
      DECLARE  -- MurmurHash3's fmix64 (core/mix64.h) mod 1024, over numeric: bigint overflows
        two64 constant numeric := 18446744073709551616;
        two63 constant numeric := 9223372036854775808;
        x bigint := id;
        u numeric;
      BEGIN
        x := x # ((x >> 33) & 2147483647);  -- >> is arithmetic: keep the 31 bits shifted in
        u := mod((CASE WHEN x < 0 THEN x + two64 ELSE x END) * 18397679294719823053, two64);
        x := (CASE WHEN u >= two63 THEN u - two64 ELSE u END)::bigint;
        x := x # ((x >> 33) & 2147483647);
        u := mod((CASE WHEN x < 0 THEN x + two64 ELSE x END) * 14181476777654086739, two64);
        x := (CASE WHEN u >= two63 THEN u - two64 ELSE u END)::bigint;
        x := x # ((x >> 33) & 2147483647);
        RETURN (x & 1023)::smallint;
      END $f$;
      CREATE TABLE disowned_buckets (     -- buckets this shard must not write (the fence)
        bucket smallint PRIMARY KEY,
        move text NOT NULL,               -- the move that fenced it
        since timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE lookups ADD COLUMN placement bigint NOT NULL DEFAULT 0;  -- backfilled below
      -- The backfill below is no change of a user: no outbox row (no purge storm) for it.
      ALTER TABLE users DISABLE TRIGGER users_changed;
      DO $do$
      DECLARE t record;
      BEGIN
        FOR t IN SELECT * FROM (VALUES
            ('users', 'id', 'id', false), ('idempotency_keys', 'user_id', 'key', false),
            ('accounts', 'user_id', 'user_id', false), ('photos', 'owner_id', 'id', false),
            ('jobs', 'owner_id', 'id', false), ('purchases', 'user_id', 'id', false),
            ('activity', 'user_id', 'day, user_id', false),
            ('lookups', 'placement', 'kind, key', true),
            ('following', 'follower', 'follower, followee', false),
            ('followers', 'followee', 'followee, follower', true),
            ('follower_counts', 'user_id', 'user_id, slot', true))
            AS v(tab, owner, pk, bucket_first) LOOP
          EXECUTE format('ALTER TABLE %I ADD COLUMN bucket smallint', t.tab);
          EXECUTE format('UPDATE %I SET bucket = ztm_bucket(%I)', t.tab, t.owner);
          EXECUTE format('ALTER TABLE %I ALTER bucket SET NOT NULL', t.tab);
          IF t.bucket_first THEN
            -- Upserted (ON CONFLICT ... DO UPDATE): one unique index only, or two racing
            -- inserts of one key fail on the index that is not the arbiter. The bucket is a
            -- function of the key, so (bucket, key) is as unique; readers name the bucket.
            EXECUTE format('ALTER TABLE %1$I DROP CONSTRAINT %2$I, ADD PRIMARY KEY (bucket, %3$s)',
                           t.tab, t.tab || '_pkey', t.pk);
          ELSE  -- the primary key stays (foreign keys, lookups by id); a second unique index
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (bucket, %s)',
                           t.tab || '_bucket', t.tab, t.pk);
            EXECUTE format('ALTER TABLE %I REPLICA IDENTITY USING INDEX %I',
                           t.tab, t.tab || '_bucket');
          END IF;
          EXECUTE format($t$
            CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $b$
            DECLARE b smallint;
            BEGIN
              IF TG_OP = 'DELETE' THEN b := OLD.bucket;
              ELSIF TG_OP = 'UPDATE' AND NEW.%2$I = OLD.%2$I THEN  -- most updates: skip the hash
                NEW.bucket := OLD.bucket; b := NEW.bucket;
              ELSE NEW.bucket := ztm_bucket(NEW.%2$I); b := NEW.bucket;
              END IF;
              -- Held to the transaction's end: a fence (mover.cc) takes it exclusively, so
              -- it waits for every write that checked before it, and every later one sees it.
              PERFORM pg_advisory_xact_lock_shared(7501, b);
              IF EXISTS (SELECT 1 FROM disowned_buckets WHERE bucket = b) THEN
                RAISE EXCEPTION 'bucket %% is not on this shard', b USING ERRCODE = 'ZT001';
              END IF;
              IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
              RETURN NEW;
            END $b$ $t$, 'ztm_bucket_' || t.tab, t.owner);
          EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OR DELETE ON %I '
                         'FOR EACH ROW EXECUTE FUNCTION %I()',
                         t.tab || '_bucket', t.tab, 'ztm_bucket_' || t.tab);
        END LOOP;
      END $do$;
      ALTER TABLE users ENABLE TRIGGER users_changed;
    )sql"},
    // Follow versions per pair (storage/follow_store.h), kept in the follower's `following` row so
    // that a bucket move carries them: an unfollow keeps the row as a tombstone. The row is now
    // upserted, so its table becomes bucket-first as migration 11 made the other upserted ones
    // (one unique index, the replica identity). The versions so far were outbox ids, which the
    // new ones (1, 2, ...) could not beat: every followers row starts again at 0, the messages
    // waiting in the outbox become the pair's versions 1..n in id order (their shard writes
    // nothing else meanwhile: the migration holds the tables), and the row carries the last (1
    // for an edge with none waiting; a tombstone for a pair whose last message is a remove).
    // So every shard must be migrated before a relay of the new code runs. The bucket triggers
    // are off for the backfill: it changes no user's data, and rows of a disowned bucket (left
    // before a finalise) must not fail it.
    {12, "versions per follow pair, kept in following by tombstones", R"sql(
      ALTER TABLE following
        ADD COLUMN version bigint NOT NULL DEFAULT 1,  -- the pair's, bumped by every change
        ADD COLUMN active boolean NOT NULL DEFAULT true;  -- false: unfollowed, kept for version
      ALTER TABLE following REPLICA IDENTITY DEFAULT;
      DROP INDEX following_bucket;
      ALTER TABLE following DROP CONSTRAINT following_pkey,
        ADD PRIMARY KEY (bucket, follower, followee);
      ALTER TABLE following DISABLE TRIGGER following_bucket;
      ALTER TABLE followers DISABLE TRIGGER followers_bucket;
      UPDATE outbox SET payload = (outbox.payload::jsonb || jsonb_build_object('version', p.n))::text
        FROM (SELECT id, row_number() OVER (PARTITION BY payload::jsonb -> 'follower',
                                            payload::jsonb -> 'followee' ORDER BY id) AS n
              FROM outbox WHERE topic = 'follow') AS p
        WHERE outbox.id = p.id;
      INSERT INTO following(bucket, follower, followee, followee_name, version, active)
        SELECT ztm_bucket(m.follower), m.follower, m.followee, '', max(m.version), false
        FROM (SELECT (payload::jsonb ->> 'follower')::bigint AS follower,
                     (payload::jsonb ->> 'followee')::bigint AS followee,
                     (payload::jsonb ->> 'version')::bigint AS version
              FROM outbox WHERE topic = 'follow') AS m
        GROUP BY m.follower, m.followee
        ON CONFLICT (bucket, follower, followee) DO UPDATE SET version = EXCLUDED.version;
      UPDATE followers SET version = 0;
      ALTER TABLE following ENABLE TRIGGER following_bucket;
      ALTER TABLE followers ENABLE TRIGGER followers_bucket;
    )sql"},
};

// Any constant works; this one is "ztm" "migr" in ASCII, so it is recognisable in pg_locks.
constexpr const char* kLockKey = "7500909211398498418";

// Runs `sql` and names the migrations in its error.
Result<postgres::Session::Rows> exec(postgres::Session& s, const std::string& sql,
                                     std::string_view what,
                                     std::initializer_list<const char*> params = {}) {
  auto r = s.exec(sql, what, params);
  if (!r.ok()) {
    Error e = std::move(r).error();
    e.message = "migrations: " + e.message;
    return e;
  }
  return r;
}

// Migration 11's lookup rows: their placement is a hash computed here (lookup_placement), which
// gives each its bucket (the trigger sets it on the update). One row at a time: a few rows
// where a sharded database predates the migration, none elsewhere.
Result<postgres::Session::Rows> place_lookups(postgres::Session& s, std::string_view what) {
  while (true) {
    auto rows = exec(s, "SELECT kind, key FROM lookups WHERE placement = 0 LIMIT 1000", what);
    if (!rows.ok() || PQntuples(rows->get()) == 0) return rows;
    for (int i = 0; i < PQntuples(rows->get()); ++i) {
      const char* kind = PQgetvalue(rows->get(), i, 0);
      const char* key = PQgetvalue(rows->get(), i, 1);
      const std::string placement = std::to_string(
          lookup_placement(static_cast<LookupKind>(std::atoi(kind)), std::string(key)));
      auto updated = exec(s, "UPDATE lookups SET placement = $3 WHERE kind = $1 AND key = $2", what,
                          {kind, key, placement.c_str()});
      if (!updated.ok()) return updated;
    }
  }
}

Result<int> read_version(postgres::Session& s) {
  auto exists = s.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL", "schema version");
  if (!exists.ok()) return std::move(exists).error();
  if (*exists != "t") return 0;
  auto max = s.scalar("SELECT coalesce(max(version), 0) FROM schema_migrations", "schema version");
  if (!max.ok()) return std::move(max).error();
  return std::atoi(max->c_str());
}

Result<postgres::Session> open(const std::string& conninfo, std::chrono::milliseconds timeout,
                               int factor) {
  auto s = postgres::Session::open(conninfo, timeout, timeout * factor);
  if (!s.ok()) {
    Error e = std::move(s).error();
    e.message = "postgres migrations: " + e.message;
    return e;
  }
  return s;
}

}  // namespace

std::span<const Migration> pg_migrations() {
  return kMigrations;
}

Result<int> pg_schema_version(const std::string& conninfo, std::chrono::milliseconds timeout) {
  auto s = open(conninfo, timeout, 1);
  if (!s.ok()) return std::move(s).error();
  return read_version(*s);
}

Result<MigrationReport> pg_migrate(const std::string& conninfo, std::chrono::milliseconds timeout) {
  // A migration may take a while, and another migrator may hold the lock meanwhile.
  auto opened = open(conninfo, timeout, 12);
  if (!opened.ok()) return std::move(opened).error();
  postgres::Session& c = *opened;
  // Held until this connection closes, so every exit path releases it.
  if (auto r = exec(c, std::string("SELECT pg_advisory_lock(") + kLockKey + ")", "advisory lock");
      !r.ok())
    return std::move(r).error();
  if (auto r = exec(c,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version integer PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())",
                    "creating schema_migrations");
      !r.ok())
    return std::move(r).error();
  auto from = read_version(c);
  if (!from.ok()) return std::move(from).error();
  MigrationReport report{*from, *from};
  for (const Migration& m : kMigrations) {
    if (m.version <= report.to_version) continue;
    const std::string step =
        "migration " + std::to_string(m.version) + " (" + std::string(m.name) + ")";
    if (auto r = exec(c, "BEGIN", step); !r.ok()) return std::move(r).error();
    const std::string version = std::to_string(m.version);
    const std::string name(m.name);
    auto applied = exec(c, std::string(m.sql), step);
    if (applied.ok() && m.version == 11) applied = place_lookups(c, step);
    if (applied.ok())
      applied = exec(c, "INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", step,
                     {version.c_str(), name.c_str()});
    if (applied.ok()) applied = exec(c, "COMMIT", step);
    if (!applied.ok()) {
      (void)exec(c, "ROLLBACK", step);
      return std::move(applied).error();
    }
    report.to_version = m.version;
  }
  return report;
}

}  // namespace ztm::storage
