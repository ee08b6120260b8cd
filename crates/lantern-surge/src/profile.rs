//! Campaign profiles: what a surge looks like, in a TOML file an operator can write
//! (`PROFILE.md` documents every key), with two built in.

use serde::{Deserialize, Serialize};

/// Longest run a profile may describe: one week of minutes.
pub const DURATION_MINUTES_MAX: u32 = 7 * 24 * 60;
/// Most orders a profile may ask for (the ledger sizes its tables for at most 100 M entries).
pub const ORDERS_MAX: u64 = 100_000_000;
/// Most outlets a profile may spread demand over.
pub const OUTLETS_MAX: u64 = 1_000_000;
/// Most phases and spikes a profile may list.
pub const PHASES_MAX: usize = 64;
pub const SPIKES_MAX: usize = 1_024;
/// Most tries one shopper makes for one order (the first included).
pub const ATTEMPTS_MAX: u32 = 32;
/// The built-in profiles, by name.
pub const BUILTIN_NAMES: [&str; 2] = ["spring-festival", "budget-exhaustion"];
/// `--scale` is applied in parts per million.
pub const SCALE_PPM_ONE: u64 = 1_000_000;

const SPRING_FESTIVAL: &str = include_str!("../profiles/spring-festival.toml");
const BUDGET_EXHAUSTION: &str = include_str!("../profiles/budget-exhaustion.toml");

/// A surge, as an operator describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Orders the shoppers set out to place (first tries; retries come on top).
    pub orders: u64,
    /// Distinct shoppers placing them (at most `orders`); the rest are repeat orders.
    pub shoppers: u64,
    /// Simulated span of the arrivals.
    pub duration_minutes: u32,
    /// Phases in order, each with its share of the orders (per mille, summing to 1000); the
    /// last ends at `duration_minutes`.
    pub phases: Vec<Phase>,
    #[serde(default)]
    pub spikes: Vec<Spike>,
    /// Minute-to-minute swing of the ordinary minutes around their phase's level (per mille).
    #[serde(default)]
    pub wave_permille: u32,
    pub merchants: MerchantsProfile,
    pub campaign: CampaignProfile,
    pub behaviour: ShopperProfile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub until_minute: u32,
    pub share_permille: u32,
}

/// Minutes whose orders are `peak_x_average` times the whole run's per-minute average.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub at_minute: u32,
    pub minutes: u32,
    pub peak_x_average: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantsProfile {
    /// Outlets; demand over them is Zipf (s = 1) by rank.
    pub outlets: u64,
    /// Each outlet's declared rate is drawn evenly from this range (orders per minute).
    pub orders_per_minute_min: u32,
    pub orders_per_minute_max: u32,
    /// Each outlet's kitchen backlog limit is this many minutes of its rate.
    pub backlog_minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignProfile {
    pub budget_yuan: i64,
    pub coupon_yuan: i64,
    pub per_shopper_limit: u8,
    pub referral_bonus_cap: u8,
    /// Share of new shoppers who arrive through a referral (per mille).
    pub referral_permille: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopperProfile {
    /// Share of orders that arrive as chat messages through the agent (per mille).
    pub chat_permille: u32,
    /// Tries per order, the first included; then the shopper gives up.
    pub attempts_max: u32,
    /// Backoff after the first refusal; doubles per refusal up to `backoff_ms_max`, with jitter.
    pub backoff_ms_initial: u64,
    pub backoff_ms_max: u64,
    /// After this many "shop busy" answers the shopper tries another outlet.
    pub switch_shop_after: u32,
}

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("profile is not valid TOML or has an unknown or missing key: {0}")]
    Parse(String),
    #[error("unknown profile {0:?}: use one of {BUILTIN_NAMES:?} or the path of a profile file")]
    UnknownBuiltin(String),
    #[error("profile key {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ProfileError {
    ProfileError::Invalid { key, reason: reason.into() }
}

impl Profile {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        match name {
            "spring-festival" => Profile::from_toml(SPRING_FESTIVAL),
            "budget-exhaustion" => Profile::from_toml(BUDGET_EXHAUSTION),
            other => Err(ProfileError::UnknownBuiltin(other.to_owned())),
        }
    }

    /// The TOML text of a built-in profile (a starting point for an operator's own).
    pub fn builtin_text(name: &str) -> Option<&'static str> {
        match name {
            "spring-festival" => Some(SPRING_FESTIVAL),
            "budget-exhaustion" => Some(BUDGET_EXHAUSTION),
            _ => None,
        }
    }

    /// Parses and validates a profile file.
    pub fn from_toml(text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile =
            toml::from_str(text).map_err(|error| ProfileError::Parse(error.to_string()))?;
        profile.validate()?;
        Ok(profile)
    }

    /// The same surge shrunk (or grown) by `scale_ppm` parts per million: orders, shoppers,
    /// outlets and budget scale together, so each outlet sees the same pressure; the timeline,
    /// capacities and behaviour stay.
    pub fn scaled(&self, scale_ppm: u64) -> Result<Profile, ProfileError> {
        let scale = |value: u64| -> u64 {
            u64::try_from(u128::from(value) * u128::from(scale_ppm) / u128::from(SCALE_PPM_ONE))
                .unwrap_or(u64::MAX)
        };
        let mut scaled = self.clone();
        scaled.orders = scale(self.orders).max(1);
        scaled.shoppers = scale(self.shoppers).clamp(1, scaled.orders);
        scaled.merchants.outlets = scale(self.merchants.outlets).max(1);
        let budget = u64::try_from(self.campaign.budget_yuan).unwrap_or(0);
        scaled.campaign.budget_yuan = i64::try_from(scale(budget)).unwrap_or(i64::MAX);
        scaled.validate()?;
        Ok(scaled)
    }

    /// Checks every key; the first problem found is the error.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if !(1..=ORDERS_MAX).contains(&self.orders) {
            return Err(invalid("orders", format!("must be 1..={ORDERS_MAX}, got {}", self.orders)));
        }
        if self.shoppers == 0 || self.shoppers > self.orders {
            return Err(invalid(
                "shoppers",
                format!("must be 1..=orders ({}), got {}", self.orders, self.shoppers),
            ));
        }
        if !(1..=DURATION_MINUTES_MAX).contains(&self.duration_minutes) {
            return Err(invalid("duration_minutes", format!("must be 1..={DURATION_MINUTES_MAX}")));
        }
        if self.phases.is_empty() || self.phases.len() > PHASES_MAX {
            return Err(invalid("phases", format!("list 1..={PHASES_MAX} phases")));
        }
        let mut previous_end = 0;
        for phase in &self.phases {
            if phase.until_minute <= previous_end {
                return Err(invalid("phases.until_minute", "phases must end in increasing order"));
            }
            previous_end = phase.until_minute;
        }
        if previous_end != self.duration_minutes {
            return Err(invalid(
                "phases.until_minute",
                format!("the last phase must end at duration_minutes ({})", self.duration_minutes),
            ));
        }
        let share: u32 = self.phases.iter().map(|phase| phase.share_permille).sum();
        if share != 1_000 {
            return Err(invalid("phases.share_permille", format!("shares must sum to 1000, got {share}")));
        }
        if self.spikes.len() > SPIKES_MAX {
            return Err(invalid("spikes", format!("list at most {SPIKES_MAX} spikes")));
        }
        for spike in &self.spikes {
            if spike.minutes == 0 || spike.at_minute.saturating_add(spike.minutes) > self.duration_minutes {
                return Err(invalid(
                    "spikes",
                    format!("spike at minute {} must lie inside the run", spike.at_minute),
                ));
            }
            if !(1..=1_000).contains(&spike.peak_x_average) {
                return Err(invalid("spikes.peak_x_average", "must be 1..=1000"));
            }
        }
        if self.wave_permille > 900 {
            return Err(invalid("wave_permille", "must be at most 900"));
        }
        let merchants = &self.merchants;
        if !(1..=OUTLETS_MAX).contains(&merchants.outlets) {
            return Err(invalid("merchants.outlets", format!("must be 1..={OUTLETS_MAX}")));
        }
        let rate_max = lantern_core::ORDERS_PER_MINUTE_MAX;
        if merchants.orders_per_minute_min == 0
            || merchants.orders_per_minute_min > merchants.orders_per_minute_max
            || merchants.orders_per_minute_max > rate_max
        {
            return Err(invalid(
                "merchants.orders_per_minute_min",
                format!("need 1 <= orders_per_minute_min <= orders_per_minute_max <= {rate_max}"),
            ));
        }
        let backlog_max = u64::from(merchants.orders_per_minute_max) * u64::from(merchants.backlog_minutes);
        if merchants.backlog_minutes == 0 || backlog_max > u64::from(lantern_core::OPEN_ORDERS_MAX) {
            return Err(invalid(
                "merchants.backlog_minutes",
                format!(
                    "need 1..; orders_per_minute_max x backlog_minutes at most {}",
                    lantern_core::OPEN_ORDERS_MAX
                ),
            ));
        }
        let campaign = &self.campaign;
        if campaign.coupon_yuan <= 0 || campaign.budget_yuan < campaign.coupon_yuan {
            return Err(invalid(
                "campaign.budget_yuan",
                "need a positive coupon_yuan and budget_yuan >= coupon_yuan",
            ));
        }
        if campaign.budget_yuan > 1_000_000_000_000 {
            return Err(invalid("campaign.budget_yuan", "must be at most 10^12 yuan"));
        }
        if campaign.per_shopper_limit == 0 {
            return Err(invalid("campaign.per_shopper_limit", "must be at least 1"));
        }
        if campaign.referral_permille > 1_000 {
            return Err(invalid("campaign.referral_permille", "must be at most 1000"));
        }
        let behaviour = &self.behaviour;
        if behaviour.chat_permille > 1_000 {
            return Err(invalid("behaviour.chat_permille", "must be at most 1000"));
        }
        if !(1..=ATTEMPTS_MAX).contains(&behaviour.attempts_max) {
            return Err(invalid("behaviour.attempts_max", format!("must be 1..={ATTEMPTS_MAX}")));
        }
        if behaviour.backoff_ms_initial == 0 || behaviour.backoff_ms_initial > behaviour.backoff_ms_max {
            return Err(invalid(
                "behaviour.backoff_ms_initial",
                "need 0 < backoff_ms_initial <= backoff_ms_max",
            ));
        }
        if behaviour.backoff_ms_max > 24 * 60 * 60 * 1000 {
            return Err(invalid("behaviour.backoff_ms_max", "must be at most a day"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn builtins_parse_and_match_the_design() {
        let festival = Profile::builtin("spring-festival").unwrap();
        assert_eq!(festival.orders, 10_000_000);
        assert_eq!(festival.shoppers, 8_000_000);
        assert_eq!(festival.merchants.outlets, 300_000);
        assert_eq!(festival.duration_minutes, 540);
        assert_eq!(festival.campaign.coupon_yuan, 25);
        assert_eq!(festival.behaviour.chat_permille, 20);
        let exhaustion = Profile::builtin("budget-exhaustion").unwrap();
        assert!(
            exhaustion.campaign.budget_yuan / exhaustion.campaign.coupon_yuan < exhaustion.shoppers as i64
        );
        assert!(matches!(Profile::builtin("nope"), Err(ProfileError::UnknownBuiltin(_))));
    }

    #[test]
    fn scaling_keeps_the_pressure_per_outlet() {
        let festival = Profile::builtin("spring-festival").unwrap();
        let small = festival.scaled(20_000).unwrap();
        assert_eq!(small.orders, 200_000);
        assert_eq!(small.shoppers, 160_000);
        assert_eq!(small.merchants.outlets, 6_000);
        assert_eq!(small.campaign.budget_yuan, 60_000_000);
        assert_eq!(small.duration_minutes, festival.duration_minutes);
    }

    #[test]
    fn bad_keys_are_named() {
        let text = Profile::builtin_text("spring-festival").unwrap();
        let error =
            Profile::from_toml(&text.replace("share_permille = 900", "share_permille = 800")).unwrap_err();
        assert!(error.to_string().contains("phases.share_permille"), "{error}");
        let error = Profile::from_toml(&text.replace("coupon_yuan = 25", "coupon_yuan = 0")).unwrap_err();
        assert!(error.to_string().contains("campaign.budget_yuan"), "{error}");
        let error = Profile::from_toml(&text.replace("orders = 10_000_000", "orderz = 1")).unwrap_err();
        assert!(matches!(error, ProfileError::Parse(_)), "{error}");
        let error = Profile::from_toml(&text.replace("attempts_max = 6", "attempts_max = 0")).unwrap_err();
        assert!(error.to_string().contains("behaviour.attempts_max"), "{error}");
    }
}
