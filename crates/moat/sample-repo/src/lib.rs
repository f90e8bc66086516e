//! The ledger: accounts hold balances in minor units; transfers move money atomically.

pub mod transfer;

use std::collections::HashMap;

/// An account identifier, e.g. `acct_1234`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(pub String);

/// Balances by account, in minor units (cents).
#[derive(Debug, Default)]
pub struct Ledger {
    balances: HashMap<AccountId, i64>,
}

impl Ledger {
    /// Opens an account with a zero balance.
    pub fn open_account(&mut self, id: AccountId) {
        self.balances.entry(id).or_insert(0);
    }

    /// The current balance of `id`, if the account exists.
    pub fn balance(&self, id: &AccountId) -> Option<i64> {
        self.balances.get(id).copied()
    }

    pub(crate) fn adjust(&mut self, id: &AccountId, delta: i64) -> Result<(), LedgerError> {
        let balance = self.balances.get_mut(id).ok_or(LedgerError::UnknownAccount)?;
        if *balance + delta < 0 {
            return Err(LedgerError::InsufficientFunds);
        }
        *balance += delta;
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum LedgerError {
    UnknownAccount,
    InsufficientFunds,
}
