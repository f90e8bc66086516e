//! Adding, finding, suspending and offboarding people.

use super::{Identity, IdentityError, random_id};
use moat_domain::{ExternalIds, Role, TrainingAttestation, User, UserStatus};

/// What an admin supplies to add a person.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub teams: Vec<String>,
}

impl Identity {
    pub async fn add_user(&self, new: NewUser) -> Result<User, IdentityError> {
        // Exactly as given (the CLI trims what is typed): what the API documents is what
        // it accepts.
        let email = new.email;
        self.check_email(&email)?;
        if new.roles.is_empty() {
            return Err(IdentityError::Invalid(
                "a user needs at least one role: admin, security, auditor or developer".into(),
            ));
        }
        if let Some(bad) = new
            .teams
            .iter()
            .find(|t| t.trim().is_empty() || t.chars().count() > 100)
        {
            return Err(IdentityError::Invalid(format!(
                "team name `{bad}` must be 1 to 100 characters"
            )));
        }
        if let Some(existing) = self.store.user_by_email(&email).await? {
            return Err(IdentityError::Conflict(
                if existing.status == UserStatus::Deprovisioned {
                    format!(
                        "{email} was deprovisioned as {}; bring them back with `moat user reactivate {email}`",
                        existing.id
                    )
                } else {
                    format!(
                        "a user with email {email} already exists; use `moat user list` to find them"
                    )
                },
            ));
        }
        let mut roles = new.roles;
        roles.sort();
        roles.dedup();
        let name = match new.name.trim() {
            "" => email.split('@').next().unwrap_or_default().to_string(),
            name => name.to_string(),
        };
        let user = User {
            id: moat_domain::UserId(random_id("usr_", 8)),
            email,
            name,
            status: UserStatus::Active,
            roles,
            teams: new.teams,
            external: ExternalIds::default(),
            training: None,
            created_at: self.clock.now(),
        };
        self.store.insert_user(&user).await?;
        tracing::info!(user = %user.id, email = %user.email, "user added");
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<User>, IdentityError> {
        Ok(self.store.users().await?)
    }

    /// Finds a user by id (`usr_...`) or by email.
    pub async fn find_user(&self, id_or_email: &str) -> Result<User, IdentityError> {
        find_user_in(self.store.as_ref(), id_or_email).await
    }

    /// Blocks a person's tokens without revoking them.
    pub async fn suspend_user(&self, id_or_email: &str) -> Result<User, IdentityError> {
        self.change_status(id_or_email, UserStatus::Suspended).await
    }

    /// Lifts a suspension, or brings back a deprovisioned person (same id and history;
    /// their old tokens stay revoked, so they start with fresh ones).
    pub async fn reactivate_user(&self, id_or_email: &str) -> Result<User, IdentityError> {
        self.change_status(id_or_email, UserStatus::Active).await
    }

    /// Offboards a person: status `deprovisioned` and every token revoked, atomically.
    pub async fn deprovision_user(&self, id_or_email: &str) -> Result<User, IdentityError> {
        let user = self.find_user(id_or_email).await?;
        let user = self
            .store
            .set_user_status(&user.id, UserStatus::Deprovisioned, Some(self.clock.now()))
            .await?;
        tracing::info!(user = %user.id, "user deprovisioned, tokens revoked");
        Ok(user)
    }

    /// Records that a person completed the given training version now.
    pub async fn attest_training(
        &self,
        id_or_email: &str,
        version: &str,
    ) -> Result<User, IdentityError> {
        let user = self.find_user(id_or_email).await?;
        if version.trim().is_empty() {
            return Err(IdentityError::Invalid(
                "the training version is empty".into(),
            ));
        }
        let attestation = TrainingAttestation {
            version: version.trim().to_string(),
            completed_at: self.clock.now(),
        };
        Ok(self.store.set_user_training(&user.id, &attestation).await?)
    }

    async fn change_status(
        &self,
        id_or_email: &str,
        status: UserStatus,
    ) -> Result<User, IdentityError> {
        let user = self.find_user(id_or_email).await?;
        if user.status == UserStatus::Deprovisioned && status != UserStatus::Active {
            return Err(IdentityError::Conflict(format!(
                "{} is deprovisioned; `moat user reactivate {}` brings them back first",
                user.email, user.email
            )));
        }
        let user = self.store.set_user_status(&user.id, status, None).await?;
        tracing::info!(user = %user.id, status = %status, "user status changed");
        Ok(user)
    }

    pub(crate) fn check_email(&self, email: &str) -> Result<(), IdentityError> {
        let invalid = || {
            IdentityError::Invalid(format!(
                "`{email}` is not an email address; write it as name@example.com"
            ))
        };
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let well_formed = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && email.chars().count() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(invalid());
        }
        let domains = &self.settings.email_domains;
        if !domains.is_empty() && !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
            return Err(IdentityError::Invalid(format!(
                "{email} is outside the organisation's email domains ({}); see [org] email_domains",
                domains.join(", ")
            )));
        }
        Ok(())
    }
}

/// A person by user id (`usr_...`) or email, in `store`.
pub(crate) async fn find_user_in(
    store: &dyn moat_store::Store,
    id_or_email: &str,
) -> Result<User, IdentityError> {
    let found = if id_or_email.starts_with("usr_") {
        store
            .user(&moat_domain::UserId(id_or_email.to_string()))
            .await?
    } else {
        store.user_by_email(id_or_email.trim()).await?
    };
    found.ok_or_else(|| {
        IdentityError::NotFound(format!(
            "no user `{id_or_email}`; use `moat user list` to see who exists"
        ))
    })
}
