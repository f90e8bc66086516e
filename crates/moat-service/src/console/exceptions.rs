//! Exceptions in the console: the list for those who read the record, and the
//! security team's review (approve, deny) and revocation, through the same use case as
//! `moat exception ...` with the signed-in person as the named reviewer.

use super::{Console, ConsoleError, SignedIn};
pub use crate::exceptions::Review;
use crate::exceptions::{ExceptionError, ExceptionRules, Exceptions, Listed};
use crate::operator::Operator;
use moat_policy::Action;
use moat_store::PolicyException;

impl From<ExceptionError> for ConsoleError {
    fn from(error: ExceptionError) -> ConsoleError {
        match error {
            ExceptionError::Invalid(why) => ConsoleError::Invalid(why),
            ExceptionError::NotFound(_) => ConsoleError::NotFound(error.to_string()),
            ExceptionError::Unknown(why) => ConsoleError::NotFound(why),
            ExceptionError::Decided { .. } => ConsoleError::Invalid(error.to_string()),
            ExceptionError::Denied(why) => ConsoleError::Denied(why),
            ExceptionError::Operator(error) => error.into(),
            ExceptionError::Admin(error) => error.into(),
            ExceptionError::Store(error) => ConsoleError::Unavailable(error.to_string()),
        }
    }
}

impl Console {
    pub(super) fn rules(&self) -> ExceptionRules {
        self.deployment
            .policy
            .as_ref()
            .map(|inputs| ExceptionRules::from_config(&inputs.config.exceptions))
            .unwrap_or_default()
    }

    /// Every exception, newest first, for those who may read the record.
    pub async fn exceptions(
        &self,
        signed: &SignedIn,
        address: Option<String>,
    ) -> Result<Vec<Listed>, ConsoleError> {
        let action = if signed.abilities.administer {
            Action::Administer
        } else {
            Action::ViewAudit
        };
        self.authorize(signed, address.clone(), action, "console/exceptions")
            .await?;
        self.record_read(signed, address, "exceptions").await?;
        let admin = self.admin();
        let exceptions = Exceptions {
            access: &self.access,
            admin: &admin,
            rules: self.rules(),
            models: Vec::new(),
            vendors: Vec::new(),
        };
        Ok(exceptions.list(None).await?)
    }

    /// Approves, denies or revokes exception `id` as the signed-in person.
    pub async fn review_exception(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        id: &str,
        review: Review,
    ) -> Result<PolicyException, ConsoleError> {
        let actor = signed.actor(address);
        let admin = self.admin();
        let exceptions = Exceptions {
            access: &self.access,
            admin: &admin,
            rules: self.rules(),
            models: Vec::new(),
            vendors: Vec::new(),
        };
        let me = Operator::Person(signed.user.email.clone());
        Ok(exceptions.review(&actor, &me, id, review).await?)
    }
}
