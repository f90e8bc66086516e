//! [`crate::Store`] for [`PostgresStore`]: each method takes a pooled connection and
//! calls the table modules. Writes to people, tokens, grants and teams run under the
//! writer lock (`serial`), as every write does on SQLite.

use super::{
    PostgresStore, access_states, audit, counters, exceptions, incidents, index_jobs,
    kill_switches, links, mirror, oauth, published, scim, sequencer, serial, sessions, tokens,
    users,
};
use crate::{
    AuditCheckpoint, AuditLeaf, AuditRow, Credential, GrantsOf, HostLink, MirrorApplied,
    MirrorUpdate, MirroredReaders, OAuthClientRow, OAuthGrant, OAuthSecret, ProvenanceAnswer,
    ScimUser, SecretKind, StoreError, StoreResult, Team,
};
use moat_domain::{Token, TokenId, TrainingAttestation, UnixTime, User, UserId, UserStatus};

#[async_trait::async_trait]
impl crate::Store for PostgresStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        users::insert(&tx, user).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        users::by_id(&self.client().await?, id).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        users::by_email(&self.client().await?, email).await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        users::all(&self.client().await?).await
    }

    async fn users_page(&self, query: &crate::UserQuery) -> StoreResult<(Vec<User>, u64)> {
        users::page(&self.client().await?, query).await
    }

    async fn user_counts(&self) -> StoreResult<Vec<(UserStatus, u64)>> {
        users::counts(&self.client().await?).await
    }

    async fn set_user_status(
        &self,
        id: &UserId,
        status: UserStatus,
        revoke_tokens_at: Option<UnixTime>,
    ) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        let now = revoke_tokens_at.unwrap_or_else(UnixTime::now);
        users::set_status(&tx, id, status, now).await?;
        if let Some(at) = revoke_tokens_at {
            tokens::revoke_all_of_user(&tx, id, at).await?;
        }
        if status != UserStatus::Active {
            oauth::revoke(&tx, GrantsOf::User(id), now, &format!("user {status}")).await?;
        }
        if status == UserStatus::Deprovisioned {
            scim::leave_all_teams(&tx, id, now).await?;
        }
        let user = users::require(&tx, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn set_user_training(
        &self,
        id: &UserId,
        training: &TrainingAttestation,
    ) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        users::set_training(&tx, id, training).await?;
        let user = users::require(&tx, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn insert_token(&self, token: &Token) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        tokens::insert(&tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token(&self, id: &TokenId) -> StoreResult<Option<Token>> {
        tokens::by_id(&self.client().await?, id).await
    }

    async fn credential_by_secret_hash(
        &self,
        sha256: &[u8; 32],
    ) -> StoreResult<Option<Credential>> {
        tokens::credential_by_hash(&self.client().await?, sha256).await
    }

    async fn tokens(&self, user: Option<&UserId>) -> StoreResult<Vec<Token>> {
        tokens::all(&self.client().await?, user).await
    }

    async fn revoke_token(&self, id: &TokenId, at: UnixTime) -> StoreResult<Token> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        tokens::revoke(&tx, id, at).await?;
        let token = tokens::require(&tx, id).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn rotate_token(
        &self,
        old: &TokenId,
        replacement: &Token,
        old_expires_at: UnixTime,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        tokens::insert(&tx, replacement).await?;
        tokens::mark_replaced(&tx, old, &replacement.id, old_expires_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch_token(
        &self,
        id: &TokenId,
        at: UnixTime,
        coarseness_seconds: i64,
    ) -> StoreResult<()> {
        tokens::touch(&self.client().await?, id, at, coarseness_seconds).await
    }

    async fn audit_append(
        &self,
        events: &[AuditRow],
        nodes: &[(u64, [u8; 32])],
        checkpoint: Option<&AuditCheckpoint>,
    ) -> StoreResult<()> {
        audit::append(&mut self.client().await?, events, nodes, checkpoint).await
    }

    async fn audit_seat(&self) -> StoreResult<Option<Box<dyn crate::AuditSeat>>> {
        Ok(Some(Box::new(sequencer::Seat::new(
            self.config.clone(),
            self.tls.clone(),
        ))))
    }

    async fn audit_enqueue(&self, records: &[crate::QueuedRecord]) -> StoreResult<Vec<u64>> {
        sequencer::enqueue(&mut self.client().await?, records).await
    }

    async fn audit_dequeue(&self, ids: &[u64]) -> StoreResult<Vec<(u64, u64)>> {
        sequencer::dequeue(&self.client().await?, ids).await
    }

    async fn audit_size(&self) -> StoreResult<u64> {
        audit::size(&self.client().await?).await
    }

    async fn audit_leaves(&self, from: u64, limit: usize) -> StoreResult<Vec<AuditLeaf>> {
        audit::leaves(&self.client().await?, from, limit).await
    }

    async fn audit_nodes(&self, keys: &[u64]) -> StoreResult<Vec<(u64, [u8; 32])>> {
        audit::nodes(&self.client().await?, keys).await
    }

    async fn audit_put_checkpoint(&self, size: u64, note: &str, at: UnixTime) -> StoreResult<()> {
        audit::put_checkpoint(&self.client().await?, size, note, at).await
    }

    async fn audit_checkpoints(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, String)>> {
        audit::checkpoints(&self.client().await?, from, to, limit).await
    }

    async fn audit_latest_checkpoint(&self) -> StoreResult<Option<(u64, String)>> {
        audit::latest_checkpoint(&self.client().await?).await
    }

    async fn audit_put_body(&self, sha256: &str, body: &[u8], at: UnixTime) -> StoreResult<()> {
        audit::put_body(&self.client().await?, sha256, body, at).await
    }

    async fn audit_body(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        audit::body(&self.client().await?, sha256).await
    }

    async fn audit_delete_bodies_before(&self, before: UnixTime) -> StoreResult<u64> {
        audit::delete_bodies_before(&self.client().await?, before).await
    }

    async fn audit_sink_cursor(&self, name: &str) -> StoreResult<Option<u64>> {
        audit::sink_cursor(&self.client().await?, name).await
    }

    async fn audit_sink_advance(&self, name: &str, next: u64, at: UnixTime) -> StoreResult<()> {
        audit::sink_advance(&self.client().await?, name, next, at).await
    }

    async fn audit_sink_cursors(&self) -> StoreResult<Vec<(String, u64, UnixTime)>> {
        audit::sink_cursors(&self.client().await?).await
    }

    async fn provenance_add(
        &self,
        answer: &ProvenanceAnswer,
        fingerprints: &[u32],
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        audit::insert_provenance(&tx, answer, fingerprints).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn provenance_matches(
        &self,
        fingerprints: &[u32],
        min_shared: u32,
    ) -> StoreResult<Vec<(ProvenanceAnswer, u32)>> {
        audit::provenance_matches(&self.client().await?, fingerprints, min_shared).await
    }

    async fn mirror_apply(&self, update: &MirrorUpdate) -> StoreResult<MirrorApplied> {
        mirror::apply(&mut self.client().await?, update).await
    }

    async fn mirror_readers(&self, repo: &str) -> StoreResult<Vec<(String, String)>> {
        mirror::readers(&self.client().await?, repo).await
    }

    async fn mirror_rows_of(&self, login: &str) -> StoreResult<Vec<(String, String)>> {
        mirror::rows_of(&self.client().await?, login).await
    }

    async fn access_version(&self) -> StoreResult<u64> {
        mirror::access_version(&self.client().await?).await
    }

    async fn mirror_all(&self) -> StoreResult<Vec<MirroredReaders>> {
        mirror::all(&self.client().await?).await
    }

    async fn mirror_changed_since(&self, version: u64) -> StoreResult<Vec<MirroredReaders>> {
        mirror::changed_since(&self.client().await?, version).await
    }

    async fn webhook_seen(&self, id: &str) -> StoreResult<bool> {
        mirror::delivery_seen(&self.client().await?, id).await
    }

    async fn host_links(&self) -> StoreResult<Vec<HostLink>> {
        links::all(&self.client().await?).await
    }

    async fn host_link_set(&self, link: &HostLink) -> StoreResult<bool> {
        links::set(&mut self.client().await?, link).await
    }

    async fn host_links_replace(
        &self,
        host: &str,
        source: &str,
        links: &[HostLink],
    ) -> StoreResult<usize> {
        links::replace(&mut self.client().await?, host, source, links).await
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn counters_take(&self, takes: &[crate::CounterTake]) -> StoreResult<Option<usize>> {
        counters::take(&mut self.client().await?, takes).await
    }

    async fn counters_add(&self, changes: &[crate::CounterChange]) -> StoreResult<()> {
        counters::add(&mut self.client().await?, changes).await
    }

    async fn counters_get(&self, counters: &[(String, i64)]) -> StoreResult<Vec<u64>> {
        counters::get(&self.client().await?, counters).await
    }

    async fn counters_expire(&self, prefix: &str, window: i64) -> StoreResult<u64> {
        counters::expire(&self.client().await?, prefix, window).await
    }

    async fn config_publish(&self, config: &crate::PublishedConfig) -> StoreResult<()> {
        published::publish(&self.client().await?, config).await
    }

    async fn config_latest_version(&self) -> StoreResult<Option<i64>> {
        published::latest_version(&self.client().await?).await
    }

    async fn config_published(
        &self,
        version: Option<i64>,
    ) -> StoreResult<Option<crate::PublishedConfig>> {
        published::get(&self.client().await?, version).await
    }

    async fn config_history(&self) -> StoreResult<Vec<crate::PublishedConfig>> {
        published::history(&self.client().await?).await
    }

    async fn exception_insert(&self, exception: &crate::PolicyException) -> StoreResult<()> {
        exceptions::insert(&self.client().await?, exception).await
    }

    async fn exception_get(&self, id: &str) -> StoreResult<Option<crate::PolicyException>> {
        exceptions::get(&self.client().await?, id).await
    }

    async fn exceptions(&self, status: Option<&str>) -> StoreResult<Vec<crate::PolicyException>> {
        exceptions::list(&self.client().await?, status).await
    }

    async fn exception_update(
        &self,
        exception: &crate::PolicyException,
        expected: &str,
    ) -> StoreResult<bool> {
        exceptions::update(&self.client().await?, exception, expected).await
    }

    async fn access_state_put(&self, state: &crate::AccessState, body: &[u8]) -> StoreResult<bool> {
        access_states::put(&mut self.client().await?, state, body).await
    }

    async fn access_state_near(
        &self,
        at: moat_domain::UnixTime,
        before: bool,
    ) -> StoreResult<Option<crate::AccessState>> {
        access_states::near(&self.client().await?, at, before).await
    }

    async fn access_state_body(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        access_states::body(&self.client().await?, sha256).await
    }

    async fn access_states_prune(&self, before: moat_domain::UnixTime) -> StoreResult<u64> {
        access_states::prune(&mut self.client().await?, before).await
    }

    async fn incident_insert(&self, incident: &crate::StoredIncident) -> StoreResult<()> {
        incidents::insert(&self.client().await?, incident).await
    }

    async fn incident_get(&self, id: &str) -> StoreResult<Option<crate::StoredIncident>> {
        incidents::get(&self.client().await?, id).await
    }

    async fn incidents(&self, status: Option<&str>) -> StoreResult<Vec<crate::StoredIncident>> {
        incidents::list(&self.client().await?, status).await
    }

    async fn incident_update(&self, incident: &crate::StoredIncident) -> StoreResult<bool> {
        incidents::update(&self.client().await?, incident).await
    }

    async fn kill_switches(&self) -> StoreResult<Vec<crate::KillSwitch>> {
        kill_switches::list(&self.client().await?).await
    }

    async fn kill_switch_engage(&self, switch: &crate::KillSwitch) -> StoreResult<bool> {
        kill_switches::engage(&self.client().await?, switch).await
    }

    async fn kill_switch_release(
        &self,
        kind: &str,
        target: &str,
    ) -> StoreResult<Option<crate::KillSwitch>> {
        kill_switches::release(&self.client().await?, kind, target).await
    }

    async fn index_job_request(&self, repo: &str, reason: &str, at: UnixTime) -> StoreResult<bool> {
        index_jobs::request(&self.client().await?, repo, reason, at).await
    }

    async fn index_job_claim(
        &self,
        node: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> StoreResult<Option<crate::IndexJob>> {
        index_jobs::claim(&mut self.client().await?, node, now, until).await
    }

    async fn index_job_renew(&self, repo: &str, node: &str, until: UnixTime) -> StoreResult<bool> {
        index_jobs::renew(&self.client().await?, repo, node, until).await
    }

    async fn index_job_finish(
        &self,
        repo: &str,
        node: &str,
        outcome: Result<&str, &str>,
        at: UnixTime,
        retry_at: UnixTime,
    ) -> StoreResult<bool> {
        index_jobs::finish(&mut self.client().await?, repo, node, outcome, at, retry_at).await
    }

    async fn index_jobs(&self) -> StoreResult<Vec<crate::IndexJob>> {
        index_jobs::jobs(&self.client().await?).await
    }

    async fn index_heads(&self) -> StoreResult<Vec<crate::IndexHead>> {
        index_jobs::heads(&self.client().await?).await
    }

    async fn index_head_set(&self, head: &crate::IndexHead) -> StoreResult<()> {
        let c = self.client().await?;
        index_jobs::set_head(
            &c,
            &head.repo,
            &head.commit,
            head.indexed_at,
            &head.indexed_by,
        )
        .await
    }

    async fn mcp_session_bind(
        &self,
        id: &str,
        user: &str,
        token: &str,
        at: UnixTime,
    ) -> StoreResult<()> {
        sessions::bind(&self.client().await?, id, user, token, at).await
    }

    async fn mcp_session_keep(&self, id: &str, state: &str, at: UnixTime) -> StoreResult<()> {
        sessions::keep(&self.client().await?, id, state, at).await
    }

    async fn mcp_session(&self, id: &str) -> StoreResult<Option<crate::McpSession>> {
        sessions::get(&self.client().await?, id).await
    }

    async fn mcp_session_delete(&self, id: &str) -> StoreResult<()> {
        sessions::delete(&self.client().await?, id).await
    }

    async fn mcp_sessions_expire(&self, before: UnixTime) -> StoreResult<u64> {
        sessions::expire(&self.client().await?, before).await
    }

    async fn gateway_kept_put(&self, ids: &[String], user: &str, at: UnixTime) -> StoreResult<()> {
        super::kept::put(&self.client().await?, ids, user, at).await
    }

    async fn gateway_kept_owner(&self, id: &str) -> StoreResult<Option<String>> {
        super::kept::owner(&self.client().await?, id).await
    }

    async fn gateway_kept_expire(&self, before: UnixTime) -> StoreResult<u64> {
        super::kept::expire(&self.client().await?, before).await
    }

    async fn oauth_client_put(&self, client: &OAuthClientRow) -> StoreResult<()> {
        oauth::client_put(&self.client().await?, client).await
    }

    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClientRow>> {
        oauth::client(&self.client().await?, id).await
    }

    async fn oauth_grant_insert(&self, grant: &OAuthGrant) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        oauth::grant_insert(&tx, grant).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn oauth_grant(&self, id: &str) -> StoreResult<Option<OAuthGrant>> {
        oauth::grant(&self.client().await?, id).await
    }

    async fn oauth_grants(&self, user: Option<&UserId>) -> StoreResult<Vec<OAuthGrant>> {
        oauth::grants(&self.client().await?, user).await
    }

    async fn oauth_revoke_grants(
        &self,
        which: GrantsOf<'_>,
        at: UnixTime,
        reason: &str,
    ) -> StoreResult<Vec<String>> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        let revoked = oauth::revoke(&tx, which, at, reason).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn oauth_secret_insert(&self, secret: &OAuthSecret) -> StoreResult<()> {
        // Under the lock: the grant checked live cannot be revoked before the insert.
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        oauth::secret_insert(&tx, secret).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn oauth_secret_take(
        &self,
        kind: SecretKind,
        sha256: &[u8; 32],
        at: UnixTime,
    ) -> StoreResult<Option<OAuthSecret>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let taken = oauth::secret_take(&tx, kind, sha256, at).await?;
        tx.commit().await?;
        Ok(taken)
    }

    async fn oauth_secret(
        &self,
        kind: SecretKind,
        sha256: &[u8; 32],
    ) -> StoreResult<Option<OAuthSecret>> {
        oauth::secret(&self.client().await?, kind, sha256).await
    }

    async fn oauth_issue(
        &self,
        spend: Option<(SecretKind, &[u8; 32])>,
        at: UnixTime,
        token: &Token,
        refresh: &OAuthSecret,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        if let Some((kind, sha256)) = spend
            && !oauth::secret_spend(&tx, kind, sha256, at).await?
        {
            return Ok(false);
        }
        // The refresh token's insert checks the grant is live.
        oauth::secret_insert(&tx, refresh).await?;
        tokens::insert(&tx, token).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn oauth_secrets_expire(&self, before: UnixTime) -> StoreResult<u64> {
        // Under the lock: a bulk delete racing a revocation's deletes could deadlock.
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        let dropped = oauth::secrets_expire(&tx, before).await?;
        tx.commit().await?;
        Ok(dropped)
    }

    async fn oauth_secret_mark(
        &self,
        kind: SecretKind,
        sha256: &[u8; 32],
        used_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        oauth::secret_mark(&self.client().await?, kind, sha256, used_at, expires_at).await
    }

    async fn scim_users(&self) -> StoreResult<Vec<ScimUser>> {
        scim::users_all(&self.client().await?).await
    }

    async fn scim_user(&self, id: &UserId) -> StoreResult<Option<ScimUser>> {
        scim::user_by_id(&self.client().await?, id).await
    }

    async fn scim_user_by_name(&self, user_name: &str) -> StoreResult<Option<ScimUser>> {
        scim::user_by_name(&self.client().await?, user_name).await
    }

    async fn scim_user_insert(&self, user: &ScimUser) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        scim::user_insert(&tx, user).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn scim_user_update(
        &self,
        user: &ScimUser,
        expect: Option<u64>,
        at: UnixTime,
    ) -> StoreResult<ScimUser> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        scim::user_update(&tx, user, expect, at).await?;
        let stored =
            scim::user_by_id(&tx, &user.user.id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "user",
                    id: user.user.id.0.clone(),
                })?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn teams(&self) -> StoreResult<Vec<Team>> {
        scim::teams_all(&self.client().await?).await
    }

    async fn team(&self, id: &str) -> StoreResult<Option<Team>> {
        scim::team_by_id(&self.client().await?, id).await
    }

    async fn teams_of(&self, user: &UserId) -> StoreResult<Vec<(String, String)>> {
        scim::teams_of(&self.client().await?, user).await
    }

    async fn team_insert(&self, team: &Team) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        scim::team_insert(&tx, team).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn team_update(
        &self,
        team: &Team,
        expect: Option<u64>,
        at: UnixTime,
    ) -> StoreResult<Team> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        scim::team_update(&tx, team, expect, at).await?;
        let stored =
            scim::team_by_id(&tx, &team.id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "team",
                    id: team.id.clone(),
                })?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn team_delete(&self, id: &str, expect: Option<u64>) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = serial(&mut client).await?;
        scim::team_delete(&tx, id, expect).await?;
        tx.commit().await?;
        Ok(())
    }
}
