//! `cdr-rater generate`: benchmark data.

use std::fs;
use std::io::Write;

use anyhow::Context;

use crate::cli::{GenerateArgs, GenerateWhat};
use crate::generate;
use crate::tariff;

use super::Invalid;

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    match args.what {
        GenerateWhat::Cdrs { rows, seed, rates, out } => {
            let (t, _) = tariff::load(&rates, "NL").map_err(|e| Invalid(e.to_string()))?;
            if out.as_os_str() == "-" {
                generate::write_cdrs(&t, rows, seed, &mut std::io::stdout().lock())?;
            } else {
                let mut f = fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
                generate::write_cdrs(&t, rows, seed, &mut f)?;
                f.flush()?;
            }
        }
        GenerateWhat::Deck { prefixes, seed, rates, out } => {
            let (t, _) = tariff::load(&rates, "NL").map_err(|e| Invalid(e.to_string()))?;
            fs::create_dir_all(out.join("plans")).with_context(|| format!("cannot create {}", out.display()))?;
            let mut f = fs::File::create(out.join("wholesale.csv"))?;
            generate::write_deck(&t, prefixes, seed, &mut f)?;
            for name in ["customers.csv", "numbers.csv"] {
                if rates.join(name).exists() {
                    fs::copy(rates.join(name), out.join(name))?;
                }
            }
            for e in fs::read_dir(rates.join("plans"))? {
                let e = e?;
                fs::copy(e.path(), out.join("plans").join(e.file_name()))?;
            }
        }
    }
    Ok(())
}
