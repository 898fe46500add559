//! Webhooks in the API: the `webhooks` field of an agent (parsed here,
//! naming each bad field), a call's delivery log
//! (`GET /api/v1/calls/{callId}/webhooks`) and redelivery
//! (`POST /api/v1/webhooks/deliveries/{deliveryId}/redeliver`).
//! Secrets are accepted but never answered: agents show them masked.

use super::openapi::doc;
use super::problem::Problem;
use super::{ApiRoute, AppState};
use crate::domain::{FieldError, Webhook, WebhookSecret};
use crate::store::outbox::Delivery;
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new("/calls/{callId}/webhooks", Method::GET, call_log),
        ApiRoute::new(
            "/webhooks/deliveries/{deliveryId}/redeliver",
            Method::POST,
            redeliver,
        ),
    ]
}

/// A delivery as the log shows it (the payload is left out: it is the
/// call and the event, which the call's own endpoint shows).
fn view(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "callId": d.call_id,
        "agentId": d.agent_id,
        "url": d.url,
        "event": d.event,
        "sequence": d.call_seq,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "nextTryAt": d.next_try_at,
        "lastStatusCode": d.last_code,
        "lastError": d.last_error,
        "eventAt": d.event_at,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
        "deliveredAt": d.delivered_at,
    })
}

#[utoipa::path(get, path = "/api/v1/calls/{callId}/webhooks", operation_id = "listCallWebhookDeliveries", tag = "webhooks",
    params(("callId" = uuid::Uuid, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call's webhook deliveries, in history order", body = doc::DeliveryList),
        (status = 404, description = "No such call", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn call_log(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.parse().map_err(|_| {
        Problem::not_found(format!("no call with id {path:?} (call ids are UUIDs)"))
    })?;
    let deliveries = state.store.call_deliveries(id).await?;
    if deliveries.is_empty() && state.store.get_call(id).await?.is_none() {
        return Err(Problem::not_found(format!("no call with id {id}")));
    }
    let list: Vec<Value> = deliveries.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": list })))
}

/// Send a delivery again, whatever its state: now, with a new retry
/// period, under the same `webhook-id` (receivers deduplicate by it).
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{deliveryId}/redeliver", operation_id = "redeliverWebhook", tag = "webhooks",
    params(("deliveryId" = uuid::Uuid, Path, description = "The delivery's id")),
    responses(
        (status = 202, description = "The delivery, due again now", body = doc::Delivery),
        (status = 404, description = "No such delivery", body = doc::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn redeliver(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let unknown = || Problem::not_found(format!("no webhook delivery with id {path}"));
    let id: Uuid = path.parse().map_err(|_| unknown())?;
    if !state.store.redeliver(id, state.clock.now()).await? {
        return Err(unknown());
    }
    state.webhooks.wake();
    let d = state.store.get_delivery(id).await?.ok_or_else(unknown)?;
    Ok(HttpResponse::Accepted().json(view(&d)))
}

const WEBHOOK_FIELDS: [&str; 4] = ["url", "events", "secret", "previousSecret"];

/// Parse an agent's `webhooks` (the whole list; `null` empties it). An
/// entry without `secret` keeps the secrets of the agent's current webhook
/// with the same URL, so events can be edited without sending secrets
/// again; `previousSecret: null` ends a rotation.
pub fn parse_webhooks(v: &Value, current: &[Webhook]) -> Result<Vec<Webhook>, Vec<FieldError>> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(vec![FieldError::new(
                "webhooks",
                "must be an array of {url, events, secret}",
            )])
        }
    };
    let mut errs = Vec::new();
    let mut hooks = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |key: &str| format!("webhooks[{i}].{key}");
        let Some(obj) = item.as_object() else {
            errs.push(FieldError::new(
                format!("webhooks[{i}]"),
                "must be an object",
            ));
            continue;
        };
        for k in obj.keys().filter(|k| !WEBHOOK_FIELDS.contains(&k.as_str())) {
            errs.push(FieldError::new(at(k), "unknown field"));
        }
        let url = match obj.get("url") {
            Some(Value::String(s)) => s.clone(),
            None => {
                errs.push(FieldError::new(at("url"), "is required"));
                continue;
            }
            Some(_) => {
                errs.push(FieldError::new(at("url"), "must be a string"));
                continue;
            }
        };
        let events = match obj.get("events") {
            Some(Value::Array(list)) if list.iter().all(Value::is_string) => list
                .iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect(),
            None => {
                errs.push(FieldError::new(at("events"), "is required"));
                Vec::new()
            }
            Some(_) => {
                errs.push(FieldError::new(
                    at("events"),
                    "must be an array of event names",
                ));
                Vec::new()
            }
        };
        let same = current.iter().find(|w| w.url == url);
        let secret = match secret_field(obj, "secret", &at, same) {
            Ok(Some(s)) => Some(s),
            Ok(None) => match same {
                Some(w) => Some(w.secret.clone()),
                None => {
                    errs.push(FieldError::new(at("secret"), "is required"));
                    None
                }
            },
            Err(e) => {
                errs.push(e);
                None
            }
        };
        let previous_secret = match obj.get("previousSecret") {
            None => same.and_then(|w| w.previous_secret.clone()),
            Some(Value::Null) => None,
            Some(_) => match secret_field(obj, "previousSecret", &at, same) {
                Ok(s) => s,
                Err(e) => {
                    errs.push(e);
                    None
                }
            },
        };
        if let Some(secret) = secret {
            hooks.push(Webhook {
                url,
                events,
                secret,
                previous_secret,
            });
        }
    }
    if errs.is_empty() {
        Ok(hooks)
    } else {
        Err(errs)
    }
}

/// A secret field: absent (or null) is `None`; the masked form of one of
/// the current webhook's secrets (an agent read back and sent again) is
/// that secret; the error never repeats it.
fn secret_field(
    obj: &Map<String, Value>,
    key: &str,
    at: &impl Fn(&str) -> String,
    current: Option<&Webhook>,
) -> Result<Option<WebhookSecret>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let known = current
                .into_iter()
                .flat_map(Webhook::secrets)
                .find(|k| k.masked() == *s);
            match known {
                Some(k) => Ok(Some(k.clone())),
                None => WebhookSecret::parse(s)
                    .map(Some)
                    .map_err(|r| FieldError::new(at(key), r)),
            }
        }
        Some(_) => Err(FieldError::new(at(key), "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const S2: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn fields(r: Result<Vec<Webhook>, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_full_entry_is_read() {
        let hooks = parse_webhooks(
            &json!([{"url": "https://h.example/x", "events": ["*"], "secret": S1, "previousSecret": S2}]),
            &[],
        )
        .unwrap();
        assert_eq!(hooks[0].url, "https://h.example/x");
        assert_eq!(hooks[0].secret.expose(), S1);
        assert_eq!(hooks[0].previous_secret.as_ref().unwrap().expose(), S2);
    }

    #[test]
    fn each_bad_field_is_named_and_no_secret_is_echoed() {
        let errs = parse_webhooks(
            &json!([{"url": 5, "events": "call.completed", "secret": "whsec_nope!", "x": 1}]),
            &[],
        )
        .unwrap_err();
        let named: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            named,
            ["webhooks[0].x", "webhooks[0].url"],
            "url is needed before the rest is read"
        );
        assert_eq!(
            fields(parse_webhooks(
                &json!([{"url": "https://h.example/", "events": "*", "secret": "whsec_nope!"}]),
                &[]
            )),
            ["webhooks[0].events", "webhooks[0].secret"]
        );
        let errs = parse_webhooks(
            &json!([{"url": "https://h.example/", "events": ["*"], "secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]),
            &[],
        )
        .unwrap_err();
        assert!(!errs[0].reason.contains("MfKQ"), "{:?}", errs[0]);
        assert_eq!(
            fields(parse_webhooks(
                &json!([{"url": "https://h.example/", "events": ["*"]}]),
                &[]
            )),
            ["webhooks[0].secret"]
        );
        assert_eq!(
            fields(parse_webhooks(&json!({"url": "x"}), &[])),
            ["webhooks"]
        );
    }

    #[test]
    fn an_edit_without_secret_keeps_the_current_one() {
        let current = parse_webhooks(
            &json!([{"url": "https://h.example/", "events": ["*"], "secret": S1, "previousSecret": S2}]),
            &[],
        )
        .unwrap();
        let edited = parse_webhooks(
            &json!([{"url": "https://h.example/", "events": ["call.completed"]}]),
            &current,
        )
        .unwrap();
        assert_eq!(edited[0].secret.expose(), S1);
        assert_eq!(edited[0].previous_secret.as_ref().unwrap().expose(), S2);
        let ended = parse_webhooks(
            &json!([{"url": "https://h.example/", "events": ["*"], "previousSecret": null}]),
            &current,
        )
        .unwrap();
        assert!(ended[0].previous_secret.is_none());
        assert!(parse_webhooks(&Value::Null, &current).unwrap().is_empty());
        // An agent read back (secrets masked) and sent again keeps them.
        let shown = serde_json::to_value(&current).unwrap();
        assert_eq!(parse_webhooks(&shown, &current).unwrap(), current);
    }
}
