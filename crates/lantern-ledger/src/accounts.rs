//! A campaign's subsidy money as double-entry accounts.

use lantern_core::{Money, MoneyError};

/// One of a campaign's accounts. Money flows left to right, and back only where noted:
///
/// ```text
/// funding ─top-up─► available ─claim─► wallets ─hold─► held ─place─► redeemed ─deliver─► settled
///                       ▲  ▲              ▲  ◄─release──┘              │   └─unused part─► available
///                       │  └──expire──────┘  ◄───cancel or reject──────┘
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Account {
    /// Where budget comes from: the only account allowed below zero (minus the total budget).
    Funding,
    /// Budget not yet given out.
    Available,
    /// Face value of coupons claimed and sitting in shoppers' wallets.
    Wallets,
    /// Face value of coupons held by quotes (pending transfers).
    Held,
    /// Face value of coupons spent on orders not yet delivered.
    Redeemed,
    /// Discounts paid to merchants for delivered orders.
    Settled,
}

/// The balances of one campaign's accounts.
///
/// Every change is a transfer from one account to another, so the balances always sum to zero,
/// and a transfer that would take any account but `Funding` below zero is refused: that is the
/// budget invariant, by construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignAccounts {
    funding: Money,
    available: Money,
    wallets: Money,
    held: Money,
    redeemed: Money,
    settled: Money,
}

/// A transfer refused because the debited account holds less than the amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{account:?} holds {balance}, less than {amount}")]
pub struct InsufficientFunds {
    pub account: Account,
    pub balance: Money,
    pub amount: Money,
}

impl Account {
    /// Every account, in the order money flows.
    pub const ALL: [Account; 6] = [
        Account::Funding,
        Account::Available,
        Account::Wallets,
        Account::Held,
        Account::Redeemed,
        Account::Settled,
    ];
}

impl CampaignAccounts {
    pub fn balance(&self, account: Account) -> Money {
        match account {
            Account::Funding => self.funding,
            Account::Available => self.available,
            Account::Wallets => self.wallets,
            Account::Held => self.held,
            Account::Redeemed => self.redeemed,
            Account::Settled => self.settled,
        }
    }

    fn slot(&mut self, account: Account) -> &mut Money {
        match account {
            Account::Funding => &mut self.funding,
            Account::Available => &mut self.available,
            Account::Wallets => &mut self.wallets,
            Account::Held => &mut self.held,
            Account::Redeemed => &mut self.redeemed,
            Account::Settled => &mut self.settled,
        }
    }

    /// Moves `amount` from `debit` to `credit`, or changes nothing and says why.
    pub fn transfer(
        &mut self,
        debit: Account,
        credit: Account,
        amount: Money,
    ) -> Result<(), InsufficientFunds> {
        assert!(!amount.is_negative(), "transfers move non-negative amounts");
        assert_ne!(debit, credit, "a transfer needs two accounts");
        let balance = self.balance(debit);
        let overdrawn = debit != Account::Funding && balance < amount;
        let new_debit = balance.checked_sub(amount);
        let new_credit = self.balance(credit).checked_add(amount);
        match (overdrawn, new_debit, new_credit) {
            (false, Ok(new_debit), Ok(new_credit)) => {
                *self.slot(debit) = new_debit;
                *self.slot(credit) = new_credit;
                self.assert_balanced();
                Ok(())
            }
            _ => Err(InsufficientFunds { account: debit, balance, amount }),
        }
    }

    /// Everything put into the campaign: its budget plus top-ups.
    pub fn budget_total(&self) -> Money {
        Money::from_fen(-self.funding.fen())
    }

    /// What the campaign has given out: claimed, held, redeemed and settled.
    pub fn given_out(&self) -> Result<Money, MoneyError> {
        self.wallets.checked_add(self.held)?.checked_add(self.redeemed)?.checked_add(self.settled)
    }

    fn assert_balanced(&self) {
        let sum =
            Account::ALL.iter().try_fold(Money::ZERO, |sum, account| sum.checked_add(self.balance(*account)));
        assert_eq!(sum, Ok(Money::ZERO), "accounts must sum to zero: {self:?}");
        for account in
            [Account::Available, Account::Wallets, Account::Held, Account::Redeemed, Account::Settled]
        {
            assert!(!self.balance(account).is_negative(), "{account:?} below zero: {self:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_never_overdraw_and_always_balance() {
        let mut accounts = CampaignAccounts::default();
        assert_eq!(accounts.transfer(Account::Funding, Account::Available, Money::from_yuan(50)), Ok(()));
        assert_eq!(accounts.budget_total(), Money::from_yuan(50));
        assert_eq!(accounts.transfer(Account::Available, Account::Wallets, Money::from_yuan(25)), Ok(()));
        assert_eq!(accounts.transfer(Account::Available, Account::Wallets, Money::from_yuan(25)), Ok(()));
        let refused = accounts.transfer(Account::Available, Account::Wallets, Money::from_fen(1));
        assert_eq!(
            refused,
            Err(InsufficientFunds {
                account: Account::Available,
                balance: Money::ZERO,
                amount: Money::from_fen(1)
            })
        );
        assert_eq!(accounts.given_out(), Ok(Money::from_yuan(50)));
        assert_eq!(
            accounts.balance(Account::Wallets),
            Money::from_yuan(50),
            "a refused transfer changes nothing"
        );
    }
}
