//! `service_files`: the service tables of SPEC §12.2 — `services.csv`,
//! `service_plans/standard.toml`, `subscriptions.csv`, `resellers.csv` and
//! `customers.csv` (with the optional columns), separated by
//! [`super::TARIFF_SEPARATOR`], beside a fixed small deck and call plan.
//! Loading never panics and a refused load names a problem; a loaded set
//! bills a few months without panicking, every invoice's total is its net
//! plus VAT to cents, and the rendered files hold every invoice.

use cdr_rater::billing::{self, render, BillingSettings, Month};

const WHOLESALE: &str =
    "prefix,destination,country,kind,rate_per_min,connect_fee,increment\n31,Netherlands,NL,fixed,0.01,,1/1\n";
const PLAN: &str = "currency = \"EUR\"\n[international]\nmarkup = \"130%\"\n[domestic]\nmarkup = \"120%\"\n";

/// See the module documentation.
pub fn check_service_files(data: &[u8]) {
    let parts = super::split_parts(data, super::TARIFF_SEPARATOR, 5);
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("plans")).expect("plans dir");
    std::fs::create_dir_all(root.join("service_plans")).expect("service plans dir");
    std::fs::write(root.join("wholesale.csv"), WHOLESALE).expect("write");
    std::fs::write(root.join("plans/standard.toml"), PLAN).expect("write");
    let files = ["services.csv", "service_plans/standard.toml", "subscriptions.csv", "resellers.csv", "customers.csv"];
    for (name, part) in files.iter().zip(&parts) {
        std::fs::write(root.join(name), part).expect("write");
    }
    if parts.len() < 5 {
        std::fs::write(
            root.join("customers.csv"),
            "customer_id,name,email,plan,ids_range,timezone,service_plan\nC1,One,,standard,,,standard\n",
        )
        .expect("write");
    }
    let zone = jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone");
    let t = match cdr_rater::tariff::load(root, "NL", &zone) {
        Ok((t, _)) => t,
        Err(e) => {
            assert!(!e.0.is_empty(), "a refused load names no problem");
            return;
        }
    };
    let settings = BillingSettings::default();
    for month in ["2026-01", "2026-11", "2027-02"] {
        let month = Month::parse(month).expect("month");
        let set = t.services.at(billing::services_instant(month, &zone));
        let input = billing::MonthInput {
            month,
            services: &set,
            customers: &t.customers,
            usage: &[],
            settings: &settings,
            only: None,
        };
        let mut n = 0u32;
        let Ok(invoices) = billing::compose(&input, &mut |_| {
            n += 1;
            format!("F{n}")
        }) else {
            continue;
        };
        for inv in &invoices {
            assert_eq!(inv.total, billing::invoice::cents(inv.net + inv.vat), "{inv:?}");
            assert!(inv.calls_net.is_zero(), "{inv:?}");
        }
        let commissions = billing::commissions(&invoices, &t.customers, &set);
        let files = render::month_files(&invoices, &commissions, &settings, None);
        let listed = files[0].1.iter().filter(|&&b| b == b'\n').count();
        assert!(listed > invoices.len() || invoices.is_empty() && listed == 1);
    }
}
