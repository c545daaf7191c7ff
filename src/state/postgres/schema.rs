//! The database schema, versioned: `schema_version` holds the version in
//! force, and each daemon applies the missing steps at start under an
//! advisory lock, so daemons starting together migrate once. Plain SQL
//! only (no extensions): a stock PostgreSQL 15 is enough.

/// Key of the advisory lock held while migrating (`cdr-rater` in ASCII).
const MIGRATION_LOCK: i64 = 0x6364_722d_7261_7465;

/// The steps, in order; step `i` brings the schema to version `i + 1`.
const STEPS: &[&str] = &[
    // 1: files by content, stems per site, customers' IDS days and fraud
    // states (one row each: one lock per customer), alert levels, billing.
    "CREATE TABLE files (
        key bytea PRIMARY KEY,
        site text NOT NULL,
        phase text NOT NULL CHECK (phase IN ('in_progress', 'done')),
        record text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
     );
     CREATE INDEX files_site ON files (site, phase);
     CREATE TABLE stems (
        site text NOT NULL,
        stem text NOT NULL,
        key bytea NOT NULL,
        PRIMARY KEY (site, stem)
     );
     CREATE TABLE customers (
        customer text PRIMARY KEY,
        ids_days text,
        fraud bytea
     );
     CREATE TABLE alert_levels (
        customer text NOT NULL,
        day bigint NOT NULL,
        rule text NOT NULL,
        level integer NOT NULL,
        site text NOT NULL,
        fired_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (customer, day, rule, level)
     );
     CREATE TABLE usage (
        bill_month text NOT NULL,
        customer text NOT NULL,
        origin text NOT NULL,
        currency text NOT NULL,
        category text NOT NULL,
        bucket text NOT NULL,
        calls bigint NOT NULL,
        billed_s bigint NOT NULL,
        sell numeric NOT NULL,
        buy numeric NOT NULL,
        PRIMARY KEY (bill_month, customer, origin, currency, category, bucket)
     );
     CREATE TABLE closed_months (
        month text PRIMARY KEY,
        first_invoice bigint NOT NULL,
        invoices bigint NOT NULL,
        closed_at bigint NOT NULL,
        bill bytea NOT NULL
     );
     CREATE TABLE billing_meta (
        name text PRIMARY KEY,
        value bigint NOT NULL
     );",
    // 2: files rated after a month of their calls closed, and where those
    // calls were billed (`bill` itemises them there).
    "CREATE TABLE late_files (
        key bytea PRIMARY KEY,
        routes text NOT NULL
     );",
    // 3: the per-file writes made cheaper (benches/store.sh). A customer's
    // IDS days (tens of kB of JSON) and fraud state are rewritten whole by
    // every file of the customer: stored uncompressed, that write (and the
    // read under the row lock) costs a third of what compression does.
    // Usage rows and customers are updated in place by every file: pages
    // half full let PostgreSQL update them without touching the index (HOT
    // updates), which halves the usage upsert. (New pages only: `VACUUM
    // FULL usage` applies it to a database filled before.)
    "ALTER TABLE customers ALTER COLUMN ids_days SET STORAGE EXTERNAL,
                           ALTER COLUMN fraud SET STORAGE EXTERNAL,
                           SET (fillfactor = 50);
     ALTER TABLE usage SET (fillfactor = 50);",
    // 4: a file's usage is one pending entry, folded into `usage` in
    // batches (`billing::fold`): the per-file upsert of thousands of cells
    // was most of a commit's time in the database. Entries are written
    // once and deleted by the fold: stored uncompressed. The alerts a file
    // fires, committed with it and logged by its site after the commit (the
    // engine's `outbox` module). A version per customer row, bumped by every
    // write of it, so a daemon reuses the states it decoded while the row
    // is unchanged. IDS days compressed by the client (`ids`, zstd of the
    // JSON; a row still in `ids_days` is read as it is and rewritten
    // compressed by its next file): they were most of what a file wrote.
    "CREATE TABLE usage_pending (
        seq bigserial PRIMARY KEY,
        rows bytea NOT NULL
     );
     ALTER TABLE usage_pending ALTER COLUMN rows SET STORAGE EXTERNAL;
     CREATE TABLE alert_outbox (
        seq bigserial PRIMARY KEY,
        site text NOT NULL,
        alert text NOT NULL
     );
     CREATE INDEX alert_outbox_site ON alert_outbox (site, seq);
     ALTER TABLE customers ADD COLUMN version bigint NOT NULL DEFAULT 0,
                           ADD COLUMN ids bytea,
                           ALTER COLUMN ids SET STORAGE EXTERNAL;",
];

/// The schema version this build writes.
pub const VERSION: i32 = STEPS.len() as i32;

/// Brings the database to [`VERSION`]; refuses a newer one (a newer
/// daemon migrated it).
pub(super) fn migrate(client: &mut postgres::Client) -> Result<(), super::PgError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = steps(client);
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result?;
    unlock?;
    Ok(())
}

fn steps(client: &mut postgres::Client) -> Result<(), super::PgError> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")?;
    let found: Option<i32> = client.query_opt("SELECT max(version) FROM schema_version", &[])?.and_then(|r| r.get(0));
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(super::PgError::Newer { found, known: VERSION });
    }
    for (i, step) in STEPS.iter().enumerate().skip(found as usize) {
        let mut txn = client.transaction()?;
        txn.batch_execute(step)?;
        txn.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(i as i32 + 1)])?;
        txn.commit()?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    Ok(())
}
