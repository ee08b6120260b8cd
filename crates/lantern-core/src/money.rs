//! Money as integer fen (1 yuan = 100 fen).

use std::fmt;

/// An amount of money in fen, the minor unit of the yuan.
///
/// All arithmetic is checked: an overflow is an operating error ([`MoneyError::Overflow`]), never
/// a wrap. Amounts may be negative only as intermediate results; the ledger's accounts refuse to
/// go below zero themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("money arithmetic overflowed")]
    Overflow,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_fen(fen: i64) -> Money {
        Money(fen)
    }

    /// Whole yuan, for readable test and demo data.
    pub const fn from_yuan(yuan: i64) -> Money {
        Money(yuan * 100)
    }

    pub const fn fen(self) -> i64 {
        self.0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_add(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_sub(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.0.checked_mul(factor).map(Money).ok_or(MoneyError::Overflow)
    }

    /// `self * basis_points / 10_000`, rounded down, in integer arithmetic.
    pub fn percent_bp(self, basis_points: u32) -> Result<Money, MoneyError> {
        let scaled = i128::from(self.0) * i128::from(basis_points) / 10_000;
        i64::try_from(scaled).map(Money).map_err(|_| MoneyError::Overflow)
    }

    pub fn min(self, other: Money) -> Money {
        Money(self.0.min(other.0))
    }
}

impl fmt::Display for Money {
    /// `¥12.50`, `-¥0.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}¥{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Money::from_fen(i64::MAX).checked_add(Money::from_fen(1)), Err(MoneyError::Overflow));
        assert_eq!(Money::from_fen(5).checked_sub(Money::from_fen(7)), Ok(Money::from_fen(-2)));
        assert_eq!(Money::from_fen(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn percent_rounds_down() {
        assert_eq!(Money::from_fen(999).percent_bp(1_500), Ok(Money::from_fen(149)));
        assert_eq!(Money::from_fen(i64::MAX).percent_bp(10_000), Ok(Money::from_fen(i64::MAX)));
    }

    #[test]
    fn displays_as_yuan() {
        assert_eq!(Money::from_fen(1250).to_string(), "¥12.50");
        assert_eq!(Money::from_fen(-5).to_string(), "-¥0.05");
        assert_eq!(Money::from_yuan(25).to_string(), "¥25.00");
    }
}
