//! Incidents in the console: the list and one incident's page for those who read the
//! record, the steps for the security team, through the same use case as
//! `moat incident ...` with the signed-in person as the operator (it decides again:
//! `ViewAudit` to read, `Contain` to change).

use super::{Console, ConsoleError, SignedIn};
pub use crate::incidents::Step;
use crate::incidents::{IncidentError, IncidentRules, Incidents, Shown};
use crate::operator::Operator;

impl From<IncidentError> for ConsoleError {
    fn from(error: IncidentError) -> ConsoleError {
        match error {
            IncidentError::Invalid(why) | IncidentError::Conflict(why) => {
                ConsoleError::Invalid(why)
            }
            IncidentError::NotFound(_) => ConsoleError::NotFound(error.to_string()),
            IncidentError::UnknownPerson(why) => ConsoleError::NotFound(why),
            IncidentError::Operator(error) => error.into(),
            IncidentError::Admin(error) => error.into(),
            IncidentError::Corrupt(..) | IncidentError::Store(_) => {
                ConsoleError::Unavailable(error.to_string())
            }
        }
    }
}

impl Console {
    /// The incident use case as the signed-in person acts in it; `[incidents]` read
    /// from the configuration once.
    fn incidents_with<'a>(&'a self, admin: &'a crate::Admin<'a>) -> Incidents<'a> {
        let rules = self.incident_rules.get_or_init(|| {
            self.deployment
                .policy
                .as_ref()
                .map(|inputs| IncidentRules::from_config(&inputs.config))
                .unwrap_or_else(IncidentRules::standard)
        });
        Incidents {
            access: &self.access,
            admin,
            rules,
        }
    }

    /// Every incident, newest first, with its deadlines as of now.
    pub async fn incidents(
        &self,
        signed: &SignedIn,
        address: Option<String>,
    ) -> Result<Vec<Shown>, ConsoleError> {
        let admin = self.admin();
        let incidents = self.incidents_with(&admin);
        let me = Operator::Person(signed.user.email.clone());
        Ok(incidents.list(&signed.actor(address), &me, None).await?)
    }

    pub async fn incident(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        id: &str,
    ) -> Result<Shown, ConsoleError> {
        let admin = self.admin();
        let incidents = self.incidents_with(&admin);
        let me = Operator::Person(signed.user.email.clone());
        Ok(incidents.show(&signed.actor(address), &me, id).await?)
    }

    /// Takes `step` on incident `id` as the signed-in person.
    pub async fn incident_step(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        id: &str,
        step: Step,
        note: Option<String>,
    ) -> Result<(), ConsoleError> {
        let admin = self.admin();
        let incidents = self.incidents_with(&admin);
        let me = Operator::Person(signed.user.email.clone());
        incidents
            .step(&signed.actor(address), &me, id, step, note)
            .await?;
        Ok(())
    }
}
