//! The workload a profile describes: how many orders arrive in each simulated minute, and for
//! each order (by its index in arrival order) who places it, where, what, and through which
//! channel. Everything is a pure function of the profile, the seed and the index, so a run can
//! be repeated exactly and any order can be regenerated on its own.

use lantern_core::pricing::CartLine;
use lantern_core::{Capacity, GeoPoint, ItemId, MerchantId, OptionId, ShopperId};

use crate::profile::{Profile, ProfileError, ShopperProfile};
use crate::random::{Zipf, draw};

/// Milliseconds in a simulated minute.
pub const MINUTE_MS: u64 = 60_000;

// Streams of random bits, one per decision, so that changing one never shifts another.
const STREAM_REPEAT: u64 = 1;
const STREAM_REFERRAL: u64 = 2;
const STREAM_REFERRER: u64 = 3;
const STREAM_MERCHANT: u64 = 4;
const STREAM_CART: u64 = 5;
const STREAM_CHANNEL: u64 = 6;
const STREAM_CAPACITY: u64 = 7;
const STREAM_JITTER: u64 = 8;
const STREAM_SWITCH: u64 = 9;

/// The tea menu's drinks (`lantern`'s demo catalog 1): items 101..=105, each with a size
/// (option 1 medium, 2 large) and a sugar level (options 10..=13).
const DRINK_FIRST: u64 = 101;
const DRINKS: u64 = 5;

/// How an order reaches Lantern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// One coupon-order request (claim + quote + place).
    Api,
    /// Chat messages through the shopping agent: the order, then "yes" to its quote.
    Chat,
}

/// One order as its shopper sets out to place it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// Position in arrival order, 0-based; also the order's idempotency key.
    pub index: u64,
    /// Simulated milliseconds since the start of the run.
    pub at_ms: u64,
    pub shopper: ShopperId,
    /// Set on a new shopper's first order when a referral brought them.
    pub referred_by: Option<ShopperId>,
    pub merchant: MerchantId,
    pub line: CartLine,
    pub channel: Channel,
}

/// The surge, ready to draw from.
#[derive(Debug, Clone)]
pub struct Workload {
    profile: Profile,
    seed: u64,
    /// Orders arriving in each simulated minute.
    per_minute: Vec<u64>,
    /// Index of the first order of each minute (and the total at the end).
    minute_starts: Vec<u64>,
    zipf: Zipf,
}

impl Workload {
    pub fn new(profile: &Profile, seed: u64) -> Result<Workload, ProfileError> {
        profile.validate()?;
        let per_minute = per_minute_orders(profile)?;
        let mut minute_starts = Vec::with_capacity(per_minute.len() + 1);
        let mut total = 0;
        for count in &per_minute {
            minute_starts.push(total);
            total += count;
        }
        minute_starts.push(total);
        Ok(Workload {
            profile: profile.clone(),
            seed,
            per_minute,
            minute_starts,
            zipf: Zipf::new(profile.merchants.outlets),
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Orders arriving in each simulated minute.
    pub fn per_minute(&self) -> &[u64] {
        &self.per_minute
    }

    /// The arrivals of simulated minute `minute`, in time order.
    pub fn arrivals_in_minute(&self, minute: u32) -> impl Iterator<Item = Arrival> + '_ {
        let minute = minute as usize;
        let (first, count) = match self.per_minute.get(minute) {
            Some(count) => (self.minute_starts[minute], *count),
            None => (0, 0),
        };
        (0..count).map(move |offset| {
            let at_ms = minute as u64 * MINUTE_MS + offset * MINUTE_MS / count;
            self.arrival(first + offset, at_ms)
        })
    }

    /// The order with arrival index `index`, arriving at `at_ms`.
    pub fn arrival(&self, index: u64, at_ms: u64) -> Arrival {
        let merchant = MerchantId::new(1 + self.zipf.sample(draw(self.seed, STREAM_MERCHANT, index)));
        self.arrival_at_outlet(index, at_ms, merchant)
    }

    /// The order with arrival index `index`, arriving at `at_ms`, as tried at `merchant` (a
    /// retry may be at another outlet than the one the arrival drew): [`Workload::arrival`] but
    /// for the outlet. A driver that keeps only the index of a try between its tries rebuilds
    /// the order with this, because drawing the outlet again is a Zipf lookup in a table of
    /// every outlet (megabytes at full scale, a cache miss or two) that cost the in-process
    /// driver a sixth of its time when it was made once per try and once per refusal.
    pub fn arrival_at_outlet(&self, index: u64, at_ms: u64, merchant: MerchantId) -> Arrival {
        let (shopper, referred_by) = self.shopper(index);
        let cart = draw(self.seed, STREAM_CART, index);
        let line = CartLine {
            item: ItemId::new(DRINK_FIRST + cart % DRINKS),
            quantity: 1 + ((cart >> 8) % 2) as u16,
            options: vec![
                OptionId::new(1 + ((cart >> 16) % 2) as u32),
                OptionId::new(10 + ((cart >> 24) % 4) as u32),
            ],
        };
        let chat =
            draw(self.seed, STREAM_CHANNEL, index) % 1_000 < u64::from(self.profile.behaviour.chat_permille);
        Arrival {
            index,
            at_ms,
            shopper,
            referred_by,
            merchant,
            line,
            channel: if chat { Channel::Chat } else { Channel::Api },
        }
    }

    /// Who places order `index`: new shoppers are spread evenly through the run (exactly
    /// `shoppers` of them); every other order is a repeat by a shopper who came before.
    fn shopper(&self, index: u64) -> (ShopperId, Option<ShopperId>) {
        let (orders, shoppers) = (u128::from(self.profile.orders), u128::from(self.profile.shoppers));
        let seen_before = (u128::from(index) * shoppers / orders) as u64;
        let seen_after = ((u128::from(index) + 1) * shoppers / orders) as u64;
        if seen_after > seen_before || seen_before == 0 {
            let number = seen_after.max(1);
            let referred = number >= 2
                && draw(self.seed, STREAM_REFERRAL, number) % 1_000
                    < u64::from(self.profile.campaign.referral_permille);
            let referrer =
                referred.then(|| ShopperId::new(1 + draw(self.seed, STREAM_REFERRER, number) % (number - 1)));
            return (ShopperId::new(number), referrer);
        }
        (ShopperId::new(1 + draw(self.seed, STREAM_REPEAT, index) % seen_before), None)
    }

    /// An outlet's declared capacity: a rate drawn evenly from the profile's range and a backlog
    /// limit of `backlog_minutes` of it.
    pub fn capacity(&self, merchant: MerchantId) -> Capacity {
        let merchants = &self.profile.merchants;
        let span = u64::from(merchants.orders_per_minute_max - merchants.orders_per_minute_min) + 1;
        let rate = merchants.orders_per_minute_min
            + (draw(self.seed, STREAM_CAPACITY, merchant.get()) % span) as u32;
        Capacity::new(rate, rate * merchants.backlog_minutes)
            .unwrap_or_else(|error| panic!("profile validation bounds capacities: {error}"))
    }

    /// Where an outlet stands: the outlets fill a square grid [`CITY_SPAN_E6`] micro-degrees
    /// across (about 30 km) in id order, from a south-west corner in Changsha, so every outlet
    /// has shops of its menu within the gateway's nearby radius (3 km) and a busy one's
    /// alternatives are real neighbours. 6,000 outlets stand about 400 m apart; 300,000, 60 m.
    pub fn location(&self, merchant: MerchantId) -> GeoPoint {
        let outlets = self.profile.merchants.outlets.max(1);
        let side = (outlets as f64).sqrt().ceil().max(1.0) as u64;
        let index = merchant.get().saturating_sub(1) % (side * side);
        let step_e6 = CITY_SPAN_E6 / side as i64;
        let (row, column) = ((index / side) as i64, (index % side) as i64);
        let at = |corner_e6: i64, steps: i64| i32::try_from(corner_e6 + steps * step_e6).unwrap_or(i32::MAX);
        GeoPoint::new(at(CITY_SOUTH_E6, row), at(CITY_WEST_E6, column))
            .unwrap_or_else(|error| panic!("the surge's city lies on the map: {error}"))
    }

    /// Another outlet for a shopper turned away from a busy one, when the gateway offered none
    /// (in-process, or no faster shop nearby): an outlet drawn evenly from all of them.
    pub fn other_outlet(&self, arrival: &Arrival, attempt: u32) -> MerchantId {
        let random = draw(self.seed, STREAM_SWITCH, arrival.index ^ (u64::from(attempt) << 48));
        MerchantId::new(1 + random % self.profile.merchants.outlets)
    }

    /// What a turned-away shopper does next (see [`next_try`]).
    pub fn next_try(
        &self,
        arrival: &Arrival,
        attempt: u32,
        busy_answers: u32,
        refusal: Refusal,
    ) -> Option<NextTry> {
        let random = draw(self.seed, STREAM_JITTER, arrival.index ^ (u64::from(attempt) << 48));
        next_try(&self.profile.behaviour, attempt, busy_answers, refusal, random)
    }
}

/// The surge's city: its south-west corner and its width, in micro-degrees (0.3 degree is about
/// 33 km north to south and 29 km east to west here).
const CITY_SOUTH_E6: i64 = 28_050_000;
const CITY_WEST_E6: i64 = 112_820_000;
pub const CITY_SPAN_E6: i64 = 300_000;

/// The tea menu's drinks by item id, as a shopper names them in Chinese.
const DRINK_NAMES: [&str; 5] = ["珍珠奶茶", "杨枝甘露", "多肉葡萄", "茉莉绿茶", "芝士奶盖红茶"];

/// Times a chat shopper says the last message ("好的") again when the agent answers it with a
/// fresh quote instead of the order, as a shopper would. The agent re-quotes when the quote it
/// showed can no longer be placed: in the surge, because the same shopper's other order (some
/// shoppers order twice, at once) took over the quote's coupon, which supersedes the quote. The
/// fresh quote may then have no coupon left; the shopper confirms once more, not forever.
pub const CHAT_RECONFIRMS_MAX: u32 = 1;

/// What a chat shopper says, in order: claim the coupon (of the campaign whose code is
/// `campaign_code` when given: where the agent knows several campaigns it would otherwise ask
/// which, as a shopper coming from the campaign's page would not need), ask for the drink
/// (quantity, size and sugar as in the arrival's cart) at `shop` when given (the name of the
/// arrival's outlet where the agent knows many shops, as a shopper ordering from the shop in
/// front of them would), check out, confirm the quote.
pub fn chat_messages(arrival: &Arrival, shop: Option<&str>, campaign_code: Option<&str>) -> [String; 4] {
    let line = &arrival.line;
    let name = usize::try_from(line.item.get().saturating_sub(DRINK_FIRST))
        .ok()
        .and_then(|index| DRINK_NAMES.get(index))
        .copied()
        .unwrap_or(DRINK_NAMES[0]);
    let mut words = Vec::new();
    for option in &line.options {
        words.push(match option.get() {
            1 => "中杯",
            2 => "大杯",
            10 => "标准糖",
            11 => "少糖",
            12 => "半糖",
            _ => "无糖",
        });
    }
    let at_shop = shop.map(|shop| format!("在{shop}点")).unwrap_or_default();
    let claim = campaign_code.map_or_else(|| "用优惠券".to_owned(), |code| format!("用优惠券 {code}"));
    [
        claim,
        format!("{at_shop}{}杯{name} {}", line.quantity, words.join(" ")),
        "结算".to_owned(),
        "好的".to_owned(),
    ]
}

/// Why a try did not end in an order, as the shopper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The shop is busy (full kitchen or at its rate); it says how long a new order would take.
    ShopBusy,
    /// Turned away by the system with "try later" (rate limit, overload, a full waiting room).
    TryLater { retry_after_ms: u64 },
    /// The campaign's budget is gone: an honest final answer.
    BudgetExhausted,
    /// Anything else final (the order is wrong, the campaign ended).
    Final,
}

/// When and where the next try goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTry {
    pub delay_ms: u64,
    pub switch_shop: bool,
}

/// A shopper's retry rule: exponential backoff from `backoff_ms_initial` (doubling per try, up
/// to `backoff_ms_max`) with jitter between half and all of it, at least what the system's
/// `Retry-After` said; another outlet after `switch_shop_after` busy answers; no more tries
/// after `attempts_max` or a final answer. `attempt` counts the tries made so far (1 after the
/// first).
pub fn next_try(
    behaviour: &ShopperProfile,
    attempt: u32,
    busy_answers: u32,
    refusal: Refusal,
    random: u64,
) -> Option<NextTry> {
    if attempt >= behaviour.attempts_max {
        return None;
    }
    let retry_after_ms = match refusal {
        Refusal::BudgetExhausted | Refusal::Final => return None,
        Refusal::ShopBusy => 0,
        Refusal::TryLater { retry_after_ms } => retry_after_ms,
    };
    let doubling = attempt.saturating_sub(1).min(40);
    let backoff = behaviour.backoff_ms_initial.saturating_mul(1 << doubling).min(behaviour.backoff_ms_max);
    let jittered = backoff / 2 + random % (backoff / 2 + 1);
    Some(NextTry {
        delay_ms: jittered.max(retry_after_ms),
        switch_shop: refusal == Refusal::ShopBusy && busy_answers >= behaviour.switch_shop_after,
    })
}

/// Orders per simulated minute: each phase's share, spike minutes at their multiple of the run's
/// average, the rest of the phase spread over its other minutes with a gentle hourly wave.
fn per_minute_orders(profile: &Profile) -> Result<Vec<u64>, ProfileError> {
    let duration = profile.duration_minutes as usize;
    let mut per_minute = vec![0u64; duration];
    let mut spike_minute = vec![false; duration];
    for spike in &profile.spikes {
        let orders = profile.orders * u64::from(spike.peak_x_average) / u64::from(profile.duration_minutes);
        for minute in spike.at_minute..spike.at_minute + spike.minutes {
            per_minute[minute as usize] = orders;
            spike_minute[minute as usize] = true;
        }
    }
    let mut phase_start = 0usize;
    let mut assigned = 0u64;
    for (phase_idx, phase) in profile.phases.iter().enumerate() {
        let end = phase.until_minute as usize;
        let phase_orders = if phase_idx + 1 == profile.phases.len() {
            profile.orders - assigned
        } else {
            profile.orders * u64::from(phase.share_permille) / 1_000
        };
        assigned += phase_orders;
        let spiked: u64 =
            (phase_start..end).filter(|minute| spike_minute[*minute]).map(|minute| per_minute[minute]).sum();
        let Some(rest) = phase_orders.checked_sub(spiked) else {
            return Err(ProfileError::Invalid {
                key: "spikes",
                reason: format!(
                    "the spikes in the phase ending at minute {end} need {spiked} orders but the phase has {phase_orders}; lower peak_x_average or raise the phase's share"
                ),
            });
        };
        let ordinary: Vec<usize> = (phase_start..end).filter(|minute| !spike_minute[*minute]).collect();
        let weights: Vec<u64> =
            ordinary.iter().map(|minute| wave_weight(*minute, profile.wave_permille)).collect();
        let weight_total: u64 = weights.iter().sum();
        if ordinary.is_empty() {
            // Only spikes in this phase: what is left goes to its last minute.
            per_minute[end - 1] += rest;
        } else {
            let mut given = 0;
            for (minute, weight) in ordinary.iter().zip(&weights) {
                let count = u64::try_from(u128::from(rest) * u128::from(*weight) / u128::from(weight_total))
                    .unwrap_or(0);
                per_minute[*minute] = count;
                given += count;
            }
            // Rounding leftovers, one each from the phase's first ordinary minute on.
            for minute in ordinary.iter().cycle().take(usize::try_from(rest - given).unwrap_or(0)) {
                per_minute[*minute] += 1;
            }
        }
        phase_start = end;
    }
    Ok(per_minute)
}

/// 1000 plus a triangle wave of amplitude `wave_permille` with a one-hour period.
fn wave_weight(minute: usize, wave_permille: u32) -> u64 {
    let position = (minute % 60) as i64;
    // -1000 at the top of the hour, +1000 at half past.
    let triangle = 1_000 - (position * 4_000 / 60 - 2_000).abs();
    let weight = 1_000 + i64::from(wave_permille) * -triangle / 1_000;
    u64::try_from(weight.max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn festival() -> Profile {
        Profile::builtin("spring-festival").unwrap()
    }

    #[test]
    fn the_festival_curve_has_the_design_shape() {
        let workload = Workload::new(&festival(), 7).unwrap();
        let per_minute = workload.per_minute();
        assert_eq!(per_minute.len(), 540);
        assert_eq!(per_minute.iter().sum::<u64>(), 10_000_000);
        // 1 M in the first 3 hours.
        assert_eq!(per_minute[..180].iter().sum::<u64>(), 1_000_000);
        // Per-minute peaks of 10x the average (18,518 a minute).
        let average = 10_000_000 / 540;
        let peak = *per_minute.iter().max().unwrap();
        assert!(peak >= 10 * average && peak <= 10 * average + 10, "peak {peak}");
        assert_eq!(per_minute[0], peak);
        assert!(per_minute[10] < average, "after the opening spike the first phase is quiet");
    }

    #[test]
    fn outlets_stand_apart_in_one_city_each_with_neighbours_within_the_nearby_radius() {
        for scale in [20_000, 1_000_000] {
            let profile = festival().scaled(scale).unwrap();
            let workload = Workload::new(&profile, 1).unwrap();
            let outlets = profile.merchants.outlets;
            let at = |n: u64| workload.location(MerchantId::new(n));
            let points: std::collections::HashSet<_> = (1..=outlets).map(at).collect();
            assert_eq!(points.len() as u64, outlets, "one place per outlet ({outlets} outlets)");
            let (first, last) = (at(1), at(outlets));
            assert!(first.distance_m(last) < 45_000, "{} m across", first.distance_m(last));
            // The next outlet on the row is within 3 km, however many there are.
            assert!(at(1).distance_m(at(2)) < 3_000, "{} m", at(1).distance_m(at(2)));
        }
    }

    #[test]
    fn shoppers_are_exact_and_repeaters_came_before() {
        let profile = festival().scaled(1_000).unwrap();
        let workload = Workload::new(&profile, 3).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut referred = 0;
        for minute in 0..profile.duration_minutes {
            for arrival in workload.arrivals_in_minute(minute) {
                let new = seen.insert(arrival.shopper);
                if !new {
                    assert!(arrival.referred_by.is_none());
                }
                if let Some(referrer) = arrival.referred_by {
                    assert!(seen.contains(&referrer) && referrer != arrival.shopper);
                    referred += 1;
                }
                assert!(arrival.merchant.get() >= 1 && arrival.merchant.get() <= profile.merchants.outlets);
            }
        }
        assert_eq!(seen.len() as u64, profile.shoppers);
        // 10 % of new shoppers came by referral.
        assert!((referred as u64).abs_diff(profile.shoppers / 10) < profile.shoppers / 50, "{referred}");
    }

    #[test]
    fn the_same_seed_gives_the_same_orders() {
        let profile = festival().scaled(10_000).unwrap();
        let first: Vec<Arrival> = Workload::new(&profile, 11).unwrap().arrivals_in_minute(0).collect();
        let again: Vec<Arrival> = Workload::new(&profile, 11).unwrap().arrivals_in_minute(0).collect();
        let other: Vec<Arrival> = Workload::new(&profile, 12).unwrap().arrivals_in_minute(0).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(
            first.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms && pair[0].index + 1 == pair[1].index)
        );
        let chat = first.iter().filter(|arrival| arrival.channel == Channel::Chat).count();
        assert!(chat > 0 && chat < first.len() / 10, "{chat} of {}", first.len());
    }

    #[test]
    fn an_arrival_at_another_outlet_is_the_same_order_there() {
        let workload = Workload::new(&festival().scaled(10_000).unwrap(), 3).unwrap();
        for arrival in workload.arrivals_in_minute(30).take(200) {
            let again = workload.arrival_at_outlet(arrival.index, arrival.at_ms, arrival.merchant);
            assert_eq!(again, arrival);
            let elsewhere = MerchantId::new(arrival.merchant.get() % 7 + 1);
            let moved = workload.arrival_at_outlet(arrival.index, arrival.at_ms, elsewhere);
            assert_eq!(moved, Arrival { merchant: elsewhere, ..arrival.clone() });
            assert_eq!(workload.arrival(arrival.index, arrival.at_ms), arrival);
        }
    }

    #[test]
    fn chat_shoppers_say_what_their_cart_holds() {
        let workload = Workload::new(&festival(), 2).unwrap();
        let mut arrival = workload.arrival(5, 0);
        arrival.line = CartLine {
            item: ItemId::new(102),
            quantity: 2,
            options: vec![OptionId::new(2), OptionId::new(11)],
        };
        let messages = chat_messages(&arrival, None, None);
        assert_eq!(messages[0], "用优惠券");
        assert_eq!(messages[1], "2杯杨枝甘露 大杯 少糖");
        assert_eq!(messages[3], "好的");
        let at_outlet = chat_messages(&arrival, Some("Surge outlet 17"), Some("cmp_3"));
        assert_eq!(at_outlet[0], "用优惠券 cmp_3");
        assert_eq!(at_outlet[1], "在Surge outlet 17点2杯杨枝甘露 大杯 少糖");
    }

    #[test]
    fn spikes_that_do_not_fit_are_refused() {
        let mut profile = festival();
        profile.spikes[0].minutes = 60;
        let error = Workload::new(&profile, 1).unwrap_err();
        assert!(error.to_string().contains("spikes"), "{error}");
    }

    #[test]
    fn retries_back_off_switch_and_stop() {
        let behaviour = festival().behaviour;
        let first = next_try(&behaviour, 1, 1, Refusal::ShopBusy, 0).unwrap();
        assert!(first.switch_shop);
        assert_eq!(first.delay_ms, behaviour.backoff_ms_initial / 2);
        let later = next_try(&behaviour, 3, 0, Refusal::TryLater { retry_after_ms: 1 }, u64::MAX).unwrap();
        assert!(
            later.delay_ms <= 4 * behaviour.backoff_ms_initial
                && later.delay_ms >= 2 * behaviour.backoff_ms_initial
        );
        assert!(!later.switch_shop);
        let told = next_try(&behaviour, 1, 0, Refusal::TryLater { retry_after_ms: 900_000 }, 0).unwrap();
        assert_eq!(told.delay_ms, 900_000);
        assert_eq!(next_try(&behaviour, 1, 0, Refusal::BudgetExhausted, 0), None);
        assert_eq!(next_try(&behaviour, behaviour.attempts_max, 0, Refusal::ShopBusy, 0), None);
    }

    #[test]
    fn capacities_stay_in_the_declared_range() {
        let workload = Workload::new(&festival(), 5).unwrap();
        for merchant in 1..2_000 {
            let capacity = workload.capacity(MerchantId::new(merchant));
            assert!((1..=8).contains(&capacity.orders_per_minute()));
            assert_eq!(capacity.open_orders_max(), capacity.orders_per_minute() * 20);
        }
    }
}
