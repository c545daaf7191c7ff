//! Rating one call: customer, plan, destination, buy and sell (SPEC §5,
//! §3.5–§3.7).
//!
//! Pure: no I/O, no allocation, no locks. Everything variable was resolved
//! when the [`Tariff`] was built, so a call in one period of a plan is a
//! lookup for the epoch, a hash lookup or a trie walk for the customer, a
//! trie walk for the destination and two integer charges. A plan with
//! periods adds a walk over the call's talk time on the customer's local
//! clock ([`RateScratch`] keeps one clock per zone).

use jiff::tz::TimeZone;

use crate::csvscan::unquote;
use crate::formats::Call;
use crate::money::charge_sum;
use crate::numbers::{Number, Numbering};
use crate::tariff::periods::Trail;
use crate::tariff::trie::{PrefixTrie, MAX_WALKS};
use crate::tariff::{Epoch, Plan, Quote, Tariff, NO_PLAN};
use crate::timefmt::LocalClock;

/// Most calls [`Rater::look_up`] takes at once.
pub const LOOK_AHEAD: usize = MAX_WALKS / 2;

/// What [`Rater::look_up`] found for one call ahead of rating it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookedUp {
    /// Its customer (as `Rater::rate` resolves it).
    customer: Option<u32>,
    /// Its wholesale destination on its epoch's deck.
    dest: Option<u32>,
}

/// Why a parsed call could not be rated. Each becomes the `reason` of an
/// unrated row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unrated {
    /// The account names no known customer, or none names one at all.
    UnknownCustomer,
    /// No wholesale prefix matches the called number.
    NoTariff,
}

impl Unrated {
    /// Every reason, in the order of `Totals::by_unrated`.
    pub const ALL: [Unrated; 2] = [Unrated::UnknownCustomer, Unrated::NoTariff];

    /// Reason as written in the unrated file.
    pub fn as_str(self) -> &'static str {
        match self {
            Unrated::UnknownCustomer => "unknown_customer",
            Unrated::NoTariff => "no_tariff",
        }
    }
}

/// A rated call. Money is in units of `10^-price_decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    /// Index into `Tariff::customers`.
    pub customer: u32,
    /// Plan index (`Tariff::plan_names`).
    pub plan: u32,
    /// The epoch whose tables priced the call ([`Tariff::epoch`]).
    pub epoch: u16,
    /// The plan's currency: an index into `Tariff::currencies`.
    pub currency: u8,
    /// Index into the epoch's deck; `None` for internal calls.
    pub destination: Option<u32>,
    /// Sell-side billed seconds.
    pub billed_sell: u64,
    /// Purchase price.
    pub buy: u64,
    /// Customer price.
    pub sell: u64,
    /// The periods the talk time went through.
    pub trail: Trail,
    /// `max_charge` lowered the sell.
    pub capped: bool,
}

impl Priced {
    /// `sell - buy`.
    pub fn margin(&self) -> i64 {
        self.sell as i64 - self.buy as i64
    }
}

/// What rating keeps between calls of one thread: a local clock per zone
/// (customer zones, then the default zone last).
pub struct RateScratch {
    clocks: Vec<LocalClock>,
}

impl RateScratch {
    /// Clocks for `tariff`'s zones and `default_zone` (customers without one).
    pub fn new(tariff: &Tariff, default_zone: &TimeZone) -> Self {
        let clocks = tariff.zones.iter().chain(std::iter::once(default_zone)).map(|z| LocalClock::new(z.clone()));
        RateScratch { clocks: clocks.collect() }
    }
}

/// Rates calls against the tables.
#[derive(Clone, Copy)]
pub struct Rater<'t> {
    /// The tables.
    pub tariff: &'t Tariff,
    /// For calling numbers when the customer comes from `numbers.csv`.
    pub numbering: &'t Numbering,
    /// Decimal places of every price.
    pub decimals: u32,
    /// Customer of rows whose account field is empty (`--customer`, a source's `customer`).
    pub default_customer: Option<u32>,
}

impl Rater<'_> {
    /// Rates one parsed call.
    #[inline]
    pub fn rate(&self, call: &Call<'_>, scratch: &mut RateScratch) -> Result<Priced, Unrated> {
        self.rate_with(call, scratch, None)
    }

    /// Looks up ahead, for a batch of up to [`LOOK_AHEAD`] calls about to be
    /// rated, their customers and destinations (the deck tries walked in
    /// step, so that their cache misses overlap), and brings what rating and
    /// writing them will read into the cache. `ahead[i]` is for `calls[i]`;
    /// pass it to [`Rater::rate_looked_up`]. Changes no result: only when
    /// memory is read.
    pub fn look_up<'c>(&self, calls: &[Option<&Call<'c>>], ahead: &mut [LookedUp; LOOK_AHEAD]) {
        let t = self.tariff;
        let latest = t.latest();
        // Walks: each call's number on its epoch's deck, and for a call
        // without account or default customer its caller on the number
        // blocks; `what[k]` = (call, whether a number-block walk).
        let mut tries: [&PrefixTrie; MAX_WALKS] = [latest.deck.trie(); MAX_WALKS];
        let mut numbers: [&[u8]; MAX_WALKS] = [&[]; MAX_WALKS];
        let mut what = [(0usize, false); MAX_WALKS];
        let mut callers = [None; LOOK_AHEAD];
        let mut epochs: [&Epoch; LOOK_AHEAD] = [latest; LOOK_AHEAD];
        for (i, call) in calls.iter().enumerate().take(LOOK_AHEAD) {
            let Some(call) = call else { continue };
            epochs[i] = t.epoch_at(call.start.epoch_seconds()).1;
            if !call.account.is_empty() {
                epochs[i].prefetch_customer(call.account);
            } else if self.default_customer.is_none() {
                callers[i] = self.numbering.normalise_caller(unquote(call.caller));
            }
        }
        let mut n = 0;
        for (i, call) in calls.iter().enumerate().take(LOOK_AHEAD) {
            let Some(call) = call else { continue };
            if let Number::E164(num) = &call.number {
                (tries[n], numbers[n], what[n]) = (epochs[i].deck.trie(), num.as_bytes(), (i, false));
                n += 1;
            }
            if let Some(caller) = &callers[i] {
                (tries[n], numbers[n], what[n]) = (epochs[i].number_trie(), caller.as_bytes(), (i, true));
                n += 1;
            }
        }
        let mut found = [None; MAX_WALKS];
        PrefixTrie::longest_matches(&tries[..n], &numbers[..n], &mut found[..n]);
        for a in ahead.iter_mut() {
            *a = LookedUp::default();
        }
        for k in 0..n {
            let (i, by_number) = what[k];
            if by_number {
                ahead[i].customer = found[k];
            } else {
                ahead[i].dest = found[k];
                if let Some(d) = found[k] {
                    epochs[i].deck.prefetch_hot(d);
                }
            }
        }
        for (i, call) in calls.iter().enumerate().take(LOOK_AHEAD) {
            let Some(call) = call else { continue };
            let (epoch, a) = (epochs[i], &mut ahead[i]);
            // As `customer_of`, the number-block walk done above.
            if !call.account.is_empty() {
                a.customer = epoch.customer_by_id(call.account);
            } else if let Some(c) = self.default_customer {
                a.customer = Some(c);
            }
            let Some(c) = a.customer else { continue };
            if call.account.is_empty() {
                t.prefetch_customer_csv_id(c);
            }
            let plan = epoch.plan_of(c);
            if let (Some(d), Some(Some(plan))) = (a.dest, epoch.plans.get(plan as usize)) {
                epoch.deck.prefetch_csv(d);
                plan.prefetch(d);
            }
        }
    }

    /// [`Rater::rate`] of a call [`Rater::look_up`] looked up.
    #[inline]
    pub fn rate_looked_up(
        &self,
        call: &Call<'_>,
        scratch: &mut RateScratch,
        ahead: LookedUp,
    ) -> Result<Priced, Unrated> {
        self.rate_with(call, scratch, Some(ahead))
    }

    /// The customer of `call` in `epoch`: its account's, else the default
    /// customer, else the owner of the caller's number block.
    #[inline]
    fn customer_of(&self, call: &Call<'_>, epoch: &Epoch) -> Option<u32> {
        if !call.account.is_empty() {
            epoch.customer_by_id(call.account)
        } else if let Some(c) = self.default_customer {
            Some(c)
        } else {
            self.numbering.normalise_caller(unquote(call.caller)).and_then(|n| epoch.customer_by_number(n.as_bytes()))
        }
    }

    /// Rates one call; `ahead`, when given, is its customer and destination
    /// as looked up ahead in the tables of its epoch (else looked up here).
    #[inline]
    fn rate_with(
        &self,
        call: &Call<'_>,
        scratch: &mut RateScratch,
        ahead: Option<LookedUp>,
    ) -> Result<Priced, Unrated> {
        let t = self.tariff;
        let start = call.start.epoch_seconds();
        let (epoch_idx, epoch) = t.epoch_at(start);
        let customer = match ahead {
            Some(a) => a.customer,
            None => self.customer_of(call, epoch),
        }
        .ok_or(Unrated::UnknownCustomer)?;
        let plan_idx = epoch.plan_of(customer);
        if plan_idx == NO_PLAN {
            return Err(Unrated::UnknownCustomer);
        }
        let plan = epoch.plan(plan_idx);
        let mut priced = Priced {
            customer,
            plan: plan_idx,
            epoch: epoch_idx,
            currency: plan.currency,
            destination: None,
            billed_sell: 0,
            buy: 0,
            sell: 0,
            trail: Trail::default(),
            capped: false,
        };
        let number = match call.number {
            Number::Internal => {
                if !plan.levels.periods.is_empty() {
                    let clock = self.clock(scratch, customer);
                    let talk = call.answer.map_or(start, |a| a.epoch_seconds());
                    let local = clock.local(talk);
                    priced.trail = Trail::single(plan.levels.periods.at(local.day, local.second_of_day));
                }
                return Ok(priced);
            }
            Number::E164(n) => n,
        };
        let digits = number.as_bytes();
        let dest_idx = match ahead {
            Some(a) => a.dest,
            None => epoch.deck.destination(digits),
        }
        .ok_or(Unrated::NoTariff)?;
        let dest = epoch.deck.hot(dest_idx);
        let billed_buy = dest.increment.billed(call.billsec);
        let billed_sell = plan.levels.increment.billed(call.billsec);
        let quote = plan.quote(dest_idx, digits);
        priced.destination = Some(dest_idx);
        priced.billed_sell = billed_sell;
        priced.buy = dest.buy.charge(billed_buy, self.decimals);
        let talk = call.answer.map_or(start, |a| a.epoch_seconds());
        let talk = Talk { start: talk, billsec: call.billsec, billed: billed_sell };
        // The customer's clock is looked up only for a plan with periods.
        let sold = sell(plan, quote, talk, move || self.clock(scratch, customer), self.decimals);
        priced.sell = sold.sell;
        priced.trail = sold.trail;
        priced.capped = sold.capped;
        Ok(priced)
    }

    /// The local clock of customer `c`'s zone.
    #[inline]
    fn clock<'s>(&self, scratch: &'s mut RateScratch, c: u32) -> &'s mut LocalClock {
        let default = scratch.clocks.len() - 1;
        let zone = self.tariff.customers[c as usize].zone.map_or(default, usize::from);
        &mut scratch.clocks[zone.min(default)]
    }
}

/// A call's talk time, for pricing.
#[derive(Debug, Clone, Copy)]
pub struct Talk {
    /// When talk starts (the answer time, else the start), epoch seconds.
    pub start: i64,
    /// Answered seconds.
    pub billsec: u32,
    /// Sell-side billed seconds (the plan's increments on `billsec`).
    pub billed: u64,
}

/// What a call sells for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sold {
    /// The sell, in units of `10^-decimals`, after rounding and limits.
    pub sell: u64,
    /// The periods the talk went through.
    pub trail: Trail,
    /// `max_charge` lowered the sell.
    pub capped: bool,
}

/// The sell of a call quoted `quote` under `plan` (SPEC §3.6, §3.7): in
/// one period one charge; across periods the talk time cut at their
/// boundaries on the local clock `clock` gives (asked for only then), each
/// segment at its period's rate, the extra billed seconds on the last
/// segment, rounded once; then the limits.
#[inline]
pub fn sell<'c>(
    plan: &Plan,
    quote: Quote,
    talk: Talk,
    clock: impl FnOnce() -> &'c mut LocalClock,
    decimals: u32,
) -> Sold {
    let mut sold = Sold { sell: 0, trail: Trail::default(), capped: false };
    let rounding = plan.levels.rounding;
    sold.sell = if plan.levels.periods.is_empty() {
        plan.price(quote, 0).charge_rounded(talk.billed, decimals, rounding)
    } else {
        sell_in_periods(plan, quote, talk, clock(), decimals, &mut sold.trail)
    };
    if quote.limits != 0 {
        let (min, max) = plan.limits[usize::from(quote.limits)].units(decimals);
        if talk.billsec > 0 && sold.sell < min {
            sold.sell = min;
        }
        if sold.sell > max {
            sold.sell = max;
            sold.capped = true;
        }
    }
    sold
}

#[inline(never)]
fn sell_in_periods(
    plan: &Plan,
    quote: Quote,
    talk: Talk,
    clock: &mut LocalClock,
    decimals: u32,
    trail: &mut Trail,
) -> u64 {
    let mut rate_seconds = 0u128;
    let mut last = 0u8;
    let mut segments = 0u32;
    plan.levels.periods.walk(talk.start, talk.billsec, clock, |period, seconds| {
        rate_seconds += u128::from(plan.price(quote, period).rate) * u128::from(seconds);
        trail.push(period);
        last = period;
        segments += 1;
    });
    if segments == 1 {
        // One period: its price for the whole call, as without periods.
        return plan.price(quote, last).charge_rounded(talk.billed, decimals, plan.levels.rounding);
    }
    let extra = talk.billed.saturating_sub(u64::from(talk.billsec));
    rate_seconds += u128::from(plan.price(quote, last).rate) * u128::from(extra);
    let base = plan.price(quote, 0);
    charge_sum(base.fee, base.scale, rate_seconds, talk.billed, decimals, plan.levels.rounding)
}
