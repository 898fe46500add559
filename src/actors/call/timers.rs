//! The attempt's timers: one actix timer armed for the earliest deadline
//! of the transactions (RFC 3261 timers) and of the call itself (ring
//! timeout, duration limit, the wait after a CANCEL).

use super::CallActor;
use crate::domain::{CallStatus, Cause};
use crate::sip::transaction::{InviteClient, NonInviteClient};
use actix::prelude::*;

impl CallActor {
    /// Fire due timers of every transaction and of the call itself.
    pub(super) fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        if let Some(tx) = self.invite.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_invite_actions(actions, None, ctx);
        }
        if let Some(tx) = self.cancel.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_cancel_actions(actions);
        }
        if let Some((tx, _)) = self.bye.as_mut() {
            let actions = tx.handle_timeout(now);
            self.on_bye_actions(actions, ctx);
        }
        self.tick_servers(now, ctx);
        self.tick_forks(now);
        self.tick_refresh(now, ctx);
        if self.ring_deadline.is_some_and(|d| d <= now) {
            self.ring_deadline = None;
            self.give_up_ringing(ctx);
        }
        if self.cancel_guard.is_some_and(|d| d <= now) {
            self.cancel_guard = None;
            // RFC 3261 9.1: with no final response 64*T1 after the CANCEL,
            // the client SHOULD consider the INVITE transaction destroyed.
            // Without it the actor can stop; a very late 2xx finds no owner.
            self.invite = None;
            self.finish(
                CallStatus::Failed,
                Cause::NoAnswer,
                Some(408),
                "No final response after CANCEL".into(),
                ctx,
            );
        }
        if self.hangup_deadline.is_some_and(|d| d <= now) {
            self.hang_up(ctx);
        }
        self.stop_if_settled(ctx);
    }

    /// Arm one actix timer for the earliest deadline.
    pub(super) fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let deadlines = [
            self.invite.as_ref().and_then(InviteClient::next_deadline),
            self.cancel
                .as_ref()
                .and_then(NonInviteClient::next_deadline),
            self.bye.as_ref().and_then(|(t, _)| t.next_deadline()),
            self.ring_deadline,
            self.hangup_deadline,
            self.cancel_guard,
            self.servers_deadline(),
            self.forks_deadline(),
            self.refresh_deadline(),
        ];
        if let Some(next) = deadlines.into_iter().flatten().min() {
            let wait = next.saturating_duration_since(self.services.clock.instant());
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.on_tick(ctx);
                act.rearm(ctx);
            }));
        }
    }
}
