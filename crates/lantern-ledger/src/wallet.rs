//! A shopper's coupons in one campaign, packed into eight bytes.
//!
//! Eight million shoppers each hold a coupon during the surge, so the per-shopper state is kept
//! to a `u64`-keyed hash map entry of 8 bytes: two bits of status per coupon, a bit saying which
//! coupons came from referrals, and the two claim counters.

use lantern_core::CouponStatus;

/// Most coupons one shopper can hold in one campaign: base limit plus referral cap.
pub const WALLET_COUPONS_MAX: u8 = 16;
const _: () = assert!(
    lantern_core::PER_SHOPPER_LIMIT_MAX as u16 + lantern_core::REFERRAL_BONUS_CAP_MAX as u16
        <= WALLET_COUPONS_MAX as u16
);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wallet {
    statuses: u32,
    referral_mask: u16,
    n_base: u8,
    n_referral: u8,
}

const _: () = assert!(std::mem::size_of::<Wallet>() == 8);

fn encode(status: CouponStatus) -> u32 {
    match status {
        CouponStatus::Claimed => 0,
        CouponStatus::Held => 1,
        CouponStatus::Redeemed => 2,
        CouponStatus::Expired => 3,
    }
}

fn decode(bits: u32) -> CouponStatus {
    match bits & 0b11 {
        0 => CouponStatus::Claimed,
        1 => CouponStatus::Held,
        2 => CouponStatus::Redeemed,
        _ => CouponStatus::Expired,
    }
}

impl Wallet {
    pub(crate) fn n_base(self) -> u8 {
        self.n_base
    }

    pub(crate) fn n_referral(self) -> u8 {
        self.n_referral
    }

    pub(crate) fn n_coupons(self) -> u8 {
        self.n_base + self.n_referral
    }

    pub(crate) fn status(self, ordinal: u8) -> CouponStatus {
        assert!(ordinal < self.n_coupons(), "coupon {ordinal} not in wallet of {}", self.n_coupons());
        decode(self.statuses >> (2 * u32::from(ordinal)))
    }

    pub(crate) fn is_referral(self, ordinal: u8) -> bool {
        self.referral_mask & (1 << ordinal) != 0
    }

    pub(crate) fn set_status(&mut self, ordinal: u8, status: CouponStatus) {
        assert!(ordinal < self.n_coupons());
        let shift = 2 * u32::from(ordinal);
        self.statuses = (self.statuses & !(0b11 << shift)) | (encode(status) << shift);
    }

    /// Adds a claimed coupon and returns its ordinal.
    pub(crate) fn add(&mut self, referral: bool) -> u8 {
        let ordinal = self.n_coupons();
        assert!(ordinal < WALLET_COUPONS_MAX, "wallet full: caps are validated below WALLET_COUPONS_MAX");
        if referral {
            self.n_referral += 1;
            self.referral_mask |= 1 << ordinal;
        } else {
            self.n_base += 1;
        }
        self.set_status(ordinal, CouponStatus::Claimed);
        ordinal
    }

    pub(crate) fn first_with(self, status: CouponStatus) -> Option<u8> {
        (0..self.n_coupons()).find(|ordinal| self.status(*ordinal) == status)
    }

    pub(crate) fn last_base(self) -> Option<u8> {
        (0..self.n_coupons()).rev().find(|ordinal| !self.is_referral(*ordinal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_statuses_and_kinds() {
        let mut wallet = Wallet::default();
        assert_eq!(wallet.add(false), 0);
        assert_eq!(wallet.add(true), 1);
        assert_eq!(wallet.add(false), 2);
        wallet.set_status(1, CouponStatus::Held);
        wallet.set_status(2, CouponStatus::Expired);
        assert_eq!(wallet.status(0), CouponStatus::Claimed);
        assert_eq!(wallet.status(1), CouponStatus::Held);
        assert_eq!(wallet.status(2), CouponStatus::Expired);
        assert_eq!((wallet.n_base(), wallet.n_referral()), (2, 1));
        assert!(wallet.is_referral(1) && !wallet.is_referral(2));
        assert_eq!(wallet.last_base(), Some(2));
        assert_eq!(wallet.first_with(CouponStatus::Held), Some(1));
        assert_eq!(wallet.first_with(CouponStatus::Redeemed), None);
    }
}
