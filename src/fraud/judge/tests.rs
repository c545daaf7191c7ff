//! The rules by hand (window edges, late calls, the order rule, days) and
//! against a brute-force model of "the first arrival that makes some window
//! of a day hold more than the limit".

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::*;
use crate::fraud::rules::Night;

/// 2026-11-24T00:00:00Z.
const DAY0: i64 = 1_795_478_400;
const D: i64 = DAY0 / 86_400;

fn call(start: i64, at: u64) -> RatedCall {
    RatedCall { start, sell: 0, at, customer: 0, high_risk: NO_HIGH_RISK, country: *b"NL" }
}

fn to(country: &[u8; 2], start: i64, row: u64) -> RatedCall {
    RatedCall { country: *country, ..call(start, row) }
}

/// (rule, day offset, file, call index, figures) of a firing.
type Fired = (Rule, i64, usize, usize, Figures);

/// Judges `files` one after the other (each in the order given) with "now"
/// at the end of DAY0 + 1; returns (rule, day offset, file, call index, figures).
fn run(profile: &Profile, zone: &str, files: &[Vec<RatedCall>]) -> (Vec<Fired>, CustomerState) {
    let mut clock = LocalClock::new(jiff::tz::TimeZone::get(zone).unwrap());
    let mut state = CustomerState::default();
    let mut scratch = Scratch::default();
    let mut log = crate::fraud::BatchWriter::default();
    let mut out = Vec::new();
    // The state the logged changes rebuild, file by file, must be the state.
    let mut replayed = CustomerState::default();
    for (f, calls) in files.iter().enumerate() {
        log.start();
        log.customer("x");
        let mut cx = Context {
            profile,
            clock: &mut clock,
            now: DAY0 + 2 * 86_400 - 1,
            latest_start: DAY0 + 3 * 86_400,
            home_country: *b"NL",
            units: Units::of(profile, 4),
        };
        for x in judge_customer(&mut cx, &mut state, calls, &mut scratch, &mut log) {
            out.push((x.rule, x.day - D, f, x.call, x.figures));
        }
        for (_, delta) in crate::fraud::delta::decode_batch(&log.bytes).unwrap() {
            delta.apply(&mut replayed);
        }
        assert_eq!(replayed, state, "the log of file {f} does not replay to the state");
    }
    (out, state)
}

fn calls_limit(n: u32) -> Profile {
    Profile { calls_per_minute: Some(n), ..Profile::default() }
}

#[test]
fn exactly_the_limit_does_not_fire_one_more_does() {
    let p = calls_limit(3);
    let t = DAY0 + 3600;
    // 3 calls in [t, t+60): quiet. A 4th at t+59: fires, naming it.
    let (got, _) = run(&p, "UTC", &[vec![call(t, 0), call(t + 10, 1), call(t + 20, 2)]]);
    assert!(got.is_empty());
    let (got, _) = run(&p, "UTC", &[vec![call(t, 0), call(t + 10, 1), call(t + 20, 2), call(t + 59, 3)]]);
    assert_eq!(got, [(Rule::VelocityCalls, 0, 0, 3, Figures::Calls { limit: 3, count: 4, window_start: t })]);
    // Half-open: a call at t+60 is in the next window, [t+10, t+70) holds 3.
    let (got, _) = run(&p, "UTC", &[vec![call(t, 0), call(t + 10, 1), call(t + 20, 2), call(t + 60, 3)]]);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn a_late_call_completes_a_window_built_from_earlier_files() {
    let p = calls_limit(3);
    let t = DAY0 + 7200;
    // File 1: 3 calls at t+10, t+20, t+30 (quiet), and t+200 (after them).
    // File 2: a call at t (before all of them): [t, t+60) now holds 4.
    let files = [vec![call(t + 10, 0), call(t + 20, 1), call(t + 30, 2), call(t + 200, 3)], vec![call(t, 0)]];
    let (got, _) = run(&p, "UTC", &files);
    assert_eq!(got, [(Rule::VelocityCalls, 0, 1, 0, Figures::Calls { limit: 3, count: 4, window_start: t })]);
    // A late call landing in the middle: [t+5, t+65) holds t+5, t+10, t+20, t+30.
    let files = [vec![call(t - 50, 0), call(t + 10, 1), call(t + 20, 2), call(t + 30, 3)], vec![call(t + 5, 0)]];
    let (got, _) = run(&p, "UTC", &files);
    // [t+5, t+65) holds t+5, t+10, t+20, t+30 (the window from t-50 only two).
    assert_eq!(got, [(Rule::VelocityCalls, 0, 1, 0, Figures::Calls { limit: 3, count: 4, window_start: t + 5 })]);
}

#[test]
fn two_calls_in_the_same_second_the_earlier_line_is_the_trigger() {
    let p = calls_limit(1);
    let t = DAY0 + 100;
    // In the file, row 9 comes first; processing order is t (row 0), then
    // t+5 by line: row 4, row 9. Row 4 makes [t, t+60) hold 2 > 1.
    let log = crate::fraud::CallLog { calls: vec![call(t, 0), call(t + 5, 9), call(t + 5, 4)], rated_bytes: 10 };
    let mut grouped = Vec::new();
    log.group_into(1, &mut grouped);
    let (got, _) = run(&p, "UTC", &[grouped.clone()]);
    assert_eq!(got.len(), 1);
    assert_eq!(grouped[got[0].3].at, 4);
}

#[test]
fn once_per_day_and_again_the_next_day() {
    let p = calls_limit(1);
    let t = DAY0 + 3600;
    let burst = |at: i64, row: u64| vec![call(at, row), call(at + 1, row + 1), call(at + 2, row + 2)];
    let mut calls = burst(t, 0);
    calls.extend(burst(t + 600, 3));
    calls.extend(burst(t + 86_400, 6));
    let (got, state) = run(&p, "UTC", &[calls]);
    let days: Vec<(i64, usize)> = got.iter().map(|g| (g.1, g.3)).collect();
    assert_eq!(days, [(0, 1), (1, 7)]);
    // Both days fired: only their first minute is kept (for the day before's windows).
    assert!(state.starts.is_empty(), "{:?}", state.starts);
    assert_eq!(state.days.len(), 2);
}

#[test]
fn a_window_across_midnight_belongs_to_the_day_it_starts() {
    let p = calls_limit(3);
    let midnight = DAY0 + 86_400;
    let calls = vec![call(midnight - 30, 0), call(midnight - 20, 1), call(midnight + 5, 2), call(midnight + 10, 3)];
    let (got, _) = run(&p, "UTC", &[calls]);
    assert_eq!(
        got,
        [(Rule::VelocityCalls, 0, 0, 3, Figures::Calls { limit: 3, count: 4, window_start: midnight - 30 })]
    );
    // In Amsterdam (UTC+1) the same instants are all on the next local day's 01:00.
    let (got, _) = run(
        &p,
        "Europe/Amsterdam",
        &[vec![call(midnight - 30, 0), call(midnight - 20, 1), call(midnight + 5, 2), call(midnight + 10, 3)]],
    );
    assert_eq!(got[0].1, 1);
}

#[test]
fn countries_per_hour_counts_distinct_foreign_countries() {
    let p = Profile { countries_per_hour: Some(2), ..Profile::default() };
    let t = DAY0 + 3600;
    // NL is home, -- internal: neither counts. XX counts like any country.
    let quiet =
        vec![to(b"GB", t, 0), to(b"NL", t + 1, 1), to(b"--", t + 2, 2), to(b"GB", t + 3, 3), to(b"XX", t + 100, 4)];
    assert!(run(&p, "UTC", std::slice::from_ref(&quiet)).0.is_empty());
    let mut edge = quiet.clone();
    edge.push(to(b"DE", t + 3600, 5)); // [t+3, t+3603) holds GB, XX, DE... but t+3 is GB: 3 countries
    let (got, _) = run(&p, "UTC", &[edge]);
    assert_eq!(
        got,
        [(
            Rule::VelocityCountries,
            0,
            0,
            5,
            Figures::Countries { limit: 2, countries: vec![*b"DE", *b"GB", *b"XX"], window_start: t + 3 }
        )]
    );
    let mut outside = quiet;
    outside.push(to(b"DE", t + 3603, 5)); // [t+100, t+3700): XX, DE only
    assert!(run(&p, "UTC", &[outside]).0.is_empty());
}

#[test]
fn call_cost_and_high_risk_fire_once_per_day() {
    let p = Profile { max_cost: Some(Decimal::new(2000, 2)), high_risk: Some(0), ..Profile::default() };
    let t = DAY0 + 600;
    let priced = |sell, row| RatedCall { sell, ..call(t + row as i64, row) };
    let risky = |row| RatedCall { high_risk: 3, ..call(t + row as i64, row) };
    let calls = vec![priced(200_000, 0), priced(200_001, 1), priced(900_000, 2), risky(3), risky(4)];
    let (got, _) = run(&p, "UTC", &[calls]);
    assert_eq!(
        got,
        [
            (Rule::CallCost, 0, 0, 1, Figures::Cost { limit: Decimal::new(2000, 2), sell: 200_001 }),
            (Rule::HighRiskDestination, 0, 0, 3, Figures::HighRisk { entry: 3 }),
        ]
    );
}

#[test]
fn night_spend_sums_international_calls_inside_the_window_per_day() {
    let night = Night { from: 22 * 3600, until: 6 * 3600, spend: Decimal::new(1000, 2) };
    let p = Profile { night: Some(night.clone()), ..Profile::default() };
    // Amsterdam is UTC+1 in November: local 23:00 on day 0 is 22:00 UTC.
    let local = |day: i64, h: i64, m: i64| DAY0 + day * 86_400 + h * 3600 + m * 60 - 3600;
    let sold = |c: &[u8; 2], at: i64, units: i64, row| RatedCall { sell: units, ..to(c, at, row) };
    let calls = vec![
        sold(b"GB", local(0, 23, 0), 60_000, 0),    // day 0: 6.00
        sold(b"NL", local(1, 1, 0), 90_000, 1),     // domestic: not counted
        sold(b"US", local(1, 5, 0), 50_000, 2),     // day 1: 5.00
        sold(b"US", local(1, 6, 0), 90_000, 3),     // 06:00: outside
        sold(b"XX", local(1, 5, 59), 50_000, 4),    // day 1: 10.00, not above
        sold(b"CU", local(1, 22, 30), 1, 5),        // day 1: 10.0001 > 10.00
        sold(b"CU", local(1, 23, 0), 1_000_000, 6), // fired already
    ];
    let mut sorted = calls;
    sorted.sort_by_key(|c| (c.start, c.at));
    let (got, state) = run(&p, "Europe/Amsterdam", &[sorted]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (Rule::NightSpend, 1));
    assert_eq!(
        got[0].4,
        Figures::Night { limit: Decimal::new(1000, 2), spend: 100_001, from: night.from, until: night.until }
    );
    assert_eq!(state.days[&D].night_units, 60_000);
}

#[test]
fn old_days_are_not_judged_and_future_calls_stay_out_of_the_windows() {
    let p = Profile { calls_per_minute: Some(1), max_cost: Some(Decimal::ONE), ..Profile::default() };
    // "Now" is the end of day 1: day -1 is judged, day -2 not.
    let old = DAY0 - 2 * 86_400 + 100;
    let (got, state) =
        run(&p, "UTC", &[vec![call(old, 0), call(old + 1, 1), RatedCall { sell: 999_999, ..call(old + 2, 2) }]]);
    assert!(got.is_empty(), "{got:?}");
    assert!(state.is_empty());
    let far = DAY0 + 10 * 86_400;
    let future = vec![call(far, 0), call(far, 1), RatedCall { sell: 20_000, ..call(far, 2) }];
    let (got, state) = run(&p, "UTC", &[future]);
    // The cost rule sees it on the current day (day 1); no window does.
    assert_eq!(got.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>(), [(Rule::CallCost, 1)]);
    assert!(state.starts.is_empty());
}

/// A brute-force model: every arrival looks at every window containing it.
fn model(files: &[Vec<(i64, [u8; 2])>], calls_limit: u32, countries_limit: u32) -> Vec<(Rule, i64, usize, usize)> {
    let mut arrived: Vec<(i64, [u8; 2])> = Vec::new();
    let mut fired: BTreeMap<(Rule, i64), ()> = BTreeMap::new();
    let mut out = Vec::new();
    for (f, file) in files.iter().enumerate() {
        for (i, &(t, c)) in file.iter().enumerate() {
            arrived.push((t, c));
            for (rule, width, limit) in
                [(Rule::VelocityCalls, 60, calls_limit), (Rule::VelocityCountries, 3600, countries_limit)]
            {
                if rule == Rule::VelocityCountries && c == *b"NL" {
                    continue;
                }
                // A window starts at a call it counts (a foreign one, for countries).
                let counted = |a: &&(i64, [u8; 2])| rule == Rule::VelocityCalls || a.1 != *b"NL";
                let mut starts: Vec<i64> =
                    arrived.iter().filter(counted).map(|a| a.0).filter(|&s| s > t - width && s <= t).collect();
                starts.sort();
                starts.dedup();
                for s in starts {
                    let inside = arrived.iter().filter(|a| a.0 >= s && a.0 < s + width);
                    let count = if rule == Rule::VelocityCalls {
                        inside.count()
                    } else {
                        let mut cs: Vec<[u8; 2]> = inside.filter(|a| a.1 != *b"NL").map(|a| a.1).collect();
                        cs.sort();
                        cs.dedup();
                        cs.len()
                    };
                    let day = s.div_euclid(86_400) - D;
                    if count > limit as usize && fired.insert((rule, day), ()).is_none() {
                        out.push((rule, day, f, i));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

proptest::proptest! {
    /// Any calls around a midnight, split into files in any way (each file
    /// in time order), fire exactly what the brute-force model fires, with
    /// the same trigger calls; and which (rule, day) fire does not depend
    /// on the split.
    #[test]
    fn windows_match_a_brute_force_model(
        calls in proptest::collection::vec((0i64..400, 0usize..4), 1..60),
        cuts in proptest::collection::vec(0usize..60, 0..4),
        calls_limit in 1u32..5,
        countries_limit in 1u32..3,
    ) {
        let base = DAY0 + 86_400 - 200;
        let countries = [*b"NL", *b"GB", *b"DE", *b"XX"];
        let all: Vec<(i64, [u8; 2])> = calls.iter().map(|&(t, c)| (base + t * 7 % 400 + t / 3, countries[c])).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(all.len())).collect();
        cuts.push(0);
        cuts.push(all.len());
        cuts.sort();
        cuts.dedup();
        let files: Vec<Vec<(i64, [u8; 2])>> = cuts
            .windows(2)
            .map(|w| {
                let mut f = all[w[0]..w[1]].to_vec();
                f.sort_by_key(|c| c.0);
                f
            })
            .collect();
        let want = model(&files, calls_limit, countries_limit);
        let p = Profile { calls_per_minute: Some(calls_limit), countries_per_hour: Some(countries_limit), ..Profile::default() };
        let judged: Vec<Vec<RatedCall>> = files
            .iter()
            .map(|f| f.iter().enumerate().map(|(i, &(t, c))| to(&c, t, i as u64)).collect())
            .collect();
        let (got, _) = run(&p, "UTC", &judged);
        let mut got: Vec<(Rule, i64, usize, usize)> = got.into_iter().map(|g| (g.0, g.1, g.2, g.3)).collect();
        got.sort();
        proptest::prop_assert_eq!(&got, &want);
        // One file with everything: the same (rule, day) pairs.
        let mut whole = all.clone();
        whole.sort_by_key(|c| c.0);
        let pairs = |v: &[(Rule, i64, usize, usize)]| v.iter().map(|g| (g.0, g.1)).collect::<std::collections::BTreeSet<_>>();
        proptest::prop_assert_eq!(pairs(&model(&[whole], calls_limit, countries_limit)), pairs(&want));
    }
}
