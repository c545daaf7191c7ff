//! `cdr-rater store copy --to postgres`: moves a site from the embedded
//! store to the shared one. The embedded ledger is read (the daemon must
//! be stopped: it holds the file) and written into the database of
//! `[store] url` in one transaction, its files as this site's. A database
//! that has files already is refused unless `--into-nonempty` says so.

use anyhow::Context;

use crate::cli::{CopyArgs, StoreArgs, StoreWhat};
use crate::state::postgres::Import;
use crate::state::{Ledger, PgLedger, RedbLedger, LEDGER_FILE};

use super::{load_config, Invalid};

/// Runs `cdr-rater store ...`.
pub fn run(args: StoreArgs) -> anyhow::Result<()> {
    match args.what {
        StoreWhat::Copy(a) => copy(a),
    }
}

fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.config.as_deref())?;
    if config.store.url.is_none() {
        return Err(Invalid("store copy: set [store] url (and backend = \"postgres\") in the config".into()).into());
    }
    let path = config.state.join(LEDGER_FILE);
    if !path.exists() {
        return Err(Invalid(format!("{}: no embedded ledger to copy", path.display())).into());
    }
    let ledger = RedbLedger::open_checked(&path).map_err(|e| Invalid(e.to_string()))?;
    let files = ledger.all()?;
    let ids = ledger.all_customer_days()?;
    let fraud = ledger.all_fraud_states()?;
    let export = ledger.export()?;
    let mut closed = Vec::new();
    for month in ledger.closed_months()? {
        closed.extend(ledger.closed_month(month)?);
    }
    let site = config.store.site();
    println!(
        "site {site}: {} files, {} stems, {} customers' IDS days, {} fraud states, {} usage rows, {} closed months, next invoice {}",
        files.len(),
        export.stems.len(),
        ids.len(),
        fraud.len(),
        export.usage.len(),
        closed.len(),
        export.next_invoice.map_or_else(|| "-".to_string(), |n| n.to_string())
    );
    if args.dry_run {
        println!("dry run: nothing copied");
        return Ok(());
    }
    let store = PgLedger::from_config(&config.store).context("cannot open the database")?;
    if store.has_files()? && !args.into_nonempty {
        return Err(Invalid(format!(
            "{}: the database has files already; copy into it anyway with --into-nonempty",
            store.shown()
        ))
        .into());
    }
    let import = Import {
        files: &files,
        stems: export.stems,
        ids: &ids,
        fraud: &fraud,
        usage: export.usage,
        closed,
        late: ledger.late_files()?,
        next_invoice: export.next_invoice,
    };
    store.import(&import)?;
    println!("copied into {} as site {site}", store.shown());
    Ok(())
}
