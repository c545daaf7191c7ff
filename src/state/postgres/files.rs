//! Files by content in the shared store: one row per content, owned by the
//! site that recorded it first, and the output stems each site reserved in
//! its own spool (stems are per site: each site has its own outputs).

use postgres::Client;

use super::PgError;
use crate::state::{ContentKey, FileRecord, Phase};

fn phase_text(p: Phase) -> &'static str {
    match p {
        Phase::InProgress => "in_progress",
        Phase::Done => "done",
    }
}

fn decode(json: &str) -> Result<FileRecord, PgError> {
    serde_json::from_str(json).map_err(|_| PgError::Decode("file record"))
}

fn encode(r: &FileRecord) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

fn key_of(bytes: &[u8]) -> ContentKey {
    let mut key = [0u8; 16];
    if bytes.len() == 16 {
        key.copy_from_slice(bytes);
    }
    ContentKey(key)
}

/// The record of a content. Another site's record, in progress or done, is
/// shown done under a claimed name no file of this site has: this site's
/// copy is a duplicate.
pub(super) fn get(c: &mut Client, site: &str, key: &ContentKey) -> Result<Option<FileRecord>, PgError> {
    let Some(row) = c.query_opt("SELECT site, record FROM files WHERE key = $1", &[&key.0.as_slice()])? else {
        return Ok(None);
    };
    let owner: &str = row.get(0);
    let mut record = decode(row.get(1))?;
    if owner != site {
        record.phase = Phase::Done;
        record.claimed = format!("{owner}:{}", record.claimed);
    }
    Ok(Some(record))
}

/// [`crate::state::Ledger::begin`] in one transaction; another site's
/// content is [`PgError::OtherSite`].
pub(super) fn begin(
    c: &mut Client,
    site: &str,
    key: &ContentKey,
    name: &str,
    claimed: &str,
    base: &str,
    is_free: &dyn Fn(&str) -> bool,
) -> Result<FileRecord, PgError> {
    let k = key.0.as_slice();
    let mut txn = c.transaction()?;
    if let Some(row) = txn.query_opt("SELECT site, record FROM files WHERE key = $1 FOR UPDATE", &[&k])? {
        let owner: String = row.get(0);
        if owner != site {
            return Err(PgError::OtherSite { site: owner, name: decode(row.get(1))?.name });
        }
    }
    let mut n = 1u32;
    let stem = loop {
        let candidate = if n == 1 { base.to_string() } else { format!("{base}.{n}") };
        let owner = txn.query_opt("SELECT key FROM stems WHERE site = $1 AND stem = $2", &[&site, &candidate])?;
        match owner.map(|r| r.get::<_, Vec<u8>>(0)) {
            Some(o) if o == key.0 => break candidate,
            None if is_free(&candidate) => break candidate,
            _ => n += 1,
        }
    };
    txn.execute(
        "INSERT INTO stems (site, stem, key) VALUES ($1, $2, $3) ON CONFLICT (site, stem) DO NOTHING",
        &[&site, &stem, &k],
    )?;
    let record = FileRecord::in_progress(name, claimed, stem, jiff::Timestamp::now().as_second());
    // A site that inserted the content since the read above wins: its row
    // is left alone (no row updated) and this copy is a duplicate.
    let written = txn.execute(
        "INSERT INTO files (key, site, phase, record) VALUES ($1, $2, 'in_progress', $3)
         ON CONFLICT (key) DO UPDATE SET phase = excluded.phase, record = excluded.record, updated_at = now()
         WHERE files.site = excluded.site",
        &[&k, &site, &encode(&record)],
    )?;
    if written == 0 {
        drop(txn);
        let owner = c.query_opt("SELECT site, record FROM files WHERE key = $1", &[&k])?;
        let (site, name) = match owner {
            Some(row) => (row.get::<_, String>(0), decode(row.get(1))?.name),
            None => (String::from("?"), name.to_string()),
        };
        return Err(PgError::OtherSite { site, name });
    }
    txn.commit()?;
    Ok(record)
}

/// Marks a content done with its record, inside the file's transaction;
/// the row must still be this site's.
pub(super) fn finish(
    txn: &mut impl postgres::GenericClient,
    site: &str,
    key: &ContentKey,
    done: &FileRecord,
) -> Result<(), PgError> {
    let n = txn.execute(
        "UPDATE files SET phase = $3, record = $4, updated_at = now() WHERE key = $1 AND site = $2",
        &[&key.0.as_slice(), &site, &phase_text(done.phase), &encode(done)],
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(PgError::OtherSite { site: "another".into(), name: done.name.clone() })
    }
}

/// Forgets this site's record of a content and frees its stem.
pub(super) fn forget(c: &mut Client, site: &str, key: &ContentKey) -> Result<(), PgError> {
    let mut txn = c.transaction()?;
    let old =
        txn.query_opt("DELETE FROM files WHERE key = $1 AND site = $2 RETURNING record", &[&key.0.as_slice(), &site])?;
    if let Some(row) = old {
        let record = decode(row.get(0))?;
        txn.execute("DELETE FROM stems WHERE site = $1 AND stem = $2", &[&site, &record.stem])?;
    }
    txn.commit()?;
    Ok(())
}

/// This site's records.
pub(super) fn all(c: &mut Client, site: &str) -> Result<Vec<(ContentKey, FileRecord)>, PgError> {
    let rows = c.query("SELECT key, record FROM files WHERE site = $1 ORDER BY key", &[&site])?;
    rows.iter().map(|r| Ok((key_of(r.get(0)), decode(r.get(1))?))).collect()
}

/// Every site's records, with their site.
pub(super) fn all_sites(c: &mut Client) -> Result<Vec<(ContentKey, String, FileRecord)>, PgError> {
    let rows = c.query("SELECT key, site, record FROM files ORDER BY key", &[])?;
    rows.iter().map(|r| Ok((key_of(r.get(0)), r.get(1), decode(r.get(2))?))).collect()
}

/// Writes records (of `site`) and reserved stems as they are, for `store copy`.
pub(super) fn import(
    txn: &mut impl postgres::GenericClient,
    site: &str,
    records: &[(ContentKey, FileRecord)],
    reserved: &[(String, ContentKey)],
) -> Result<(), PgError> {
    for (key, r) in records {
        txn.execute(
            "INSERT INTO files (key, site, phase, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO NOTHING",
            &[&key.0.as_slice(), &site, &phase_text(r.phase), &encode(r)],
        )?;
    }
    for (stem, key) in reserved {
        txn.execute(
            "INSERT INTO stems (site, stem, key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&site, stem, &key.0.as_slice()],
        )?;
    }
    Ok(())
}
