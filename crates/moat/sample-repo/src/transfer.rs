//! Moving money between accounts.

use crate::{AccountId, Ledger, LedgerError};

/// Moves `amount` minor units from `from` to `to`, or changes nothing.
pub fn transfer(ledger: &mut Ledger, from: &AccountId, to: &AccountId, amount: i64) -> Result<(), LedgerError> {
    if ledger.balance(to).is_none() {
        return Err(LedgerError::UnknownAccount);
    }
    ledger.adjust(from, -amount)?;
    ledger.adjust(to, amount)
}
