//! Command-line definitions (clap only; the work is in the `commands` module).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rates telecom CDR files against prefix-trie tariff tables.
#[derive(Debug, Parser)]
#[command(name = "cdr-rater", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: watch the spool, rate, publish, serve metrics, until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Rate CDR files once and write rated/, unrated/ and rejected/ outputs.
    Rate(RateArgs),
    /// Load and validate all tariff tables; list every error with file and line.
    Check(CheckArgs),
    /// Explain how one dialled number is rated.
    Lookup(LookupArgs),
    /// Write generated data for benchmarks (CDR files, large rate decks).
    Generate(GenerateArgs),
    /// IDS view: customers by spend on a day, with baseline, threshold and excess.
    Ids(IdsArgs),
    /// Daemon state maintenance (the ledger and IDS state).
    State(StateArgs),
    /// Re-rate archived inputs with the tables in force now; move spend and
    /// billing totals by the difference (with the daemon running or stopped).
    Rerate(RerateArgs),
    /// The shared store: copy an embedded store's state into PostgreSQL.
    Store(StoreArgs),
    /// Bill a month: invoices, lines, reseller commissions, printable
    /// invoices and itemised calls in billing/YYYY-MM.draft/ (billing/YYYY-MM/ once closed).
    Bill(BillArgs),
}

/// `cdr-rater bill`.
#[derive(Debug, Args)]
pub struct BillArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// Only these customers (a draft; repeat for several).
    #[arg(long = "customer", value_name = "ID")]
    pub customers: Vec<String>,
    /// Close the month: number the invoices (continuing the sequence) and
    /// freeze them; later calls and re-rating differences of it go on the
    /// next open month.
    #[arg(long)]
    pub close: bool,
}

/// `--config` shared by every command.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (default: ./cdr-rater.toml if present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `cdr-rater run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Log format: human or json.
    #[arg(long, default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
    /// Run even as root (refused by default: a daemon that parses files others
    /// write should not hold every privilege).
    #[arg(long)]
    pub allow_root: bool,
}

/// `cdr-rater rate`.
#[derive(Debug, Args)]
pub struct RateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Tariff tables folder (overrides the config).
    #[arg(long, value_name = "DIR")]
    pub rates: Option<PathBuf>,
    /// CDR format: generic, asterisk, freeswitch, 3cx, cucm or custom (overrides the config; options such as a custom layout come from the config).
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,
    /// Customer of rows whose account field is empty.
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,
    /// Put rated/, unrated/ and rejected/ under DIR (default: the current
    /// folder; never the spool unless named here).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rating threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Apply the files to the IDS state like the daemon does (backfill);
    /// files already in the ledger are refused.
    #[arg(long)]
    pub ids: bool,
    /// Bytes of input per parallel chunk (results never depend on it).
    #[arg(long, value_name = "BYTES", hide = true)]
    pub chunk_bytes: Option<usize>,
    /// CDR files to rate; `-` reads standard input. `.gz` files are decompressed.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `cdr-rater check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Tariff tables folder (overrides the config).
    #[arg(long, value_name = "DIR")]
    pub rates: Option<PathBuf>,
}

/// `cdr-rater lookup`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["plan", "customer"])))]
pub struct LookupArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Tariff tables folder (overrides the config).
    #[arg(long, value_name = "DIR")]
    pub rates: Option<PathBuf>,
    /// Price with this plan.
    #[arg(long, value_name = "NAME")]
    pub plan: Option<String>,
    /// Price with this customer's plan.
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,
    /// Talk time to price.
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub seconds: u32,
    /// Price a call answered at this time (RFC 3339, or `YYYY-MM-DD
    /// HH:MM:SS` in the configured zone): the tables in force then, and the
    /// periods its talk time crosses. Default: now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The dialled number, as a switch would write it.
    #[arg(value_name = "NUMBER", allow_hyphen_values = true)]
    pub number: String,
}

/// `cdr-rater ids`.
#[derive(Debug, Args)]
pub struct IdsArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Day to show, YYYY-MM-DD (default: today in the configured zone).
    #[arg(long)]
    pub day: Option<String>,
    /// Customers to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `cdr-rater rerate`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["month", "from", "file"])))]
pub struct RerateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Every file holding calls of this month (YYYY-MM, in the configured timezone).
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to", "file"])]
    pub month: Option<String>,
    /// Every file holding calls from this day (YYYY-MM-DD) ...
    #[arg(long, value_name = "DATE", requires = "to", conflicts_with = "file")]
    pub from: Option<String>,
    /// ... up to and including this day.
    #[arg(long, value_name = "DATE", requires = "from")]
    pub to: Option<String>,
    /// Archived inputs (paths, or names as the ledger records them).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub file: Vec<String>,
    /// Only files holding calls of these customers (before or after); every row of such a file is re-rated.
    #[arg(long, value_name = "ID", num_args = 1..)]
    pub customer: Vec<String>,
    /// Rate into a temp folder and report; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `cdr-rater state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: StateWhat,
}

/// State commands.
#[derive(Debug, Subcommand)]
pub enum StateWhat {
    /// Recreate a lost or damaged ledger from the spool: archived inputs
    /// become done (a re-send stays a duplicate), output names stay
    /// reserved, IDS days are summed again from the rated outputs.
    Rebuild(RebuildArgs),
}

/// `cdr-rater store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    pub what: StoreWhat,
}

/// Store commands.
#[derive(Debug, Subcommand)]
pub enum StoreWhat {
    /// Copy the embedded ledger (`state/ledger.redb`) into the database of
    /// `[store] url`: files and stems (as this site's), IDS days, fraud
    /// states, usage, closed months and the invoice sequence.
    Copy(CopyArgs),
}

/// `cdr-rater store copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The store to copy into (only `postgres`).
    #[arg(long, value_name = "BACKEND", value_parser = ["postgres"])]
    pub to: String,
    /// Print what would be copied, and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Copy even when the database has files already (they are kept; a
    /// content it has already is not copied).
    #[arg(long)]
    pub into_nonempty: bool,
}

/// `cdr-rater state rebuild`.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Rebuild even when the ledger still has records: it is moved aside
    /// to `ledger.redb.broken-<unix seconds>` first.
    #[arg(long)]
    pub force: bool,
}

/// `cdr-rater generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[command(subcommand)]
    pub what: GenerateWhat,
}

/// Generators.
#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// A generic-format CDR file with realistic traffic.
    Cdrs {
        /// Number of rows.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Random seed (same seed, same file).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Tariff tables whose customers and prefixes the traffic uses.
        #[arg(long, default_value = "rates")]
        rates: PathBuf,
        /// Output file (`-` = standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
        /// How international destinations are drawn: zipf (a few take most
        /// calls, as in real traffic) or uniform over the deck.
        #[arg(long, value_enum, default_value_t = Spread::Zipf)]
        spread: Spread,
        /// Percentage of calls naming their customer in the account column;
        /// the rest leave it empty and call from a numbers.csv block.
        #[arg(long, value_name = "PERCENT", default_value_t = 85, value_parser = clap::value_parser!(u64).range(0..=100))]
        with_account: u64,
        /// Days the start times spread over, from 2026-11-01 (the calls are
        /// in start order, evenly spaced, each a random few seconds late).
        #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
        days: u64,
    },
    /// A copy of a rates folder whose wholesale deck is grown to N prefixes.
    Deck {
        /// Number of wholesale prefixes.
        #[arg(long, default_value_t = 60_000)]
        prefixes: usize,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Rates folder to copy plans, customers and numbers from.
        #[arg(long, default_value = "rates")]
        rates: PathBuf,
        /// Folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Generate N customers (customers.csv, each on one of the plans with
        /// an IDS range, and their number blocks in numbers.csv) instead of
        /// copying them.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        customers: Option<u64>,
        /// Plans: the ones of `--rates` (shipped), or a single `markup` plan
        /// (deck rate x 130% plus a start fee, billed 60/6; needs --customers).
        #[arg(long, value_enum, default_value_t = Plans::Shipped, requires_if("markup", "customers"))]
        plans: Plans,
    },
    /// Billing usage of a month written straight into a store (no CDRs):
    /// `calls` calls spread over the customers of `--rates`, each customer
    /// on the three domestic lines and 5-30 foreign countries, committed as
    /// if rated from files of 100 customers each. For `bill` benchmarks.
    Usage {
        /// Tariff tables whose customers get the usage.
        #[arg(long, default_value = "rates")]
        rates: PathBuf,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Calls in all.
        #[arg(long, default_value_t = 100_000_000)]
        calls: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// State folder whose embedded store (ledger.redb) receives it.
        #[arg(long)]
        state: PathBuf,
    },
}

/// How `generate cdrs` draws international destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Spread {
    /// Zipf (s = 1) over a seeded shuffle of the deck: realistic.
    Zipf,
    /// Uniform over the deck.
    Uniform,
}

/// The plans of a generated rates folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Plans {
    /// Copy the plans of `--rates`.
    Shipped,
    /// One plan, `markup`: the deck's rate x 130% plus a start fee, billed 60/6.
    Markup,
}
