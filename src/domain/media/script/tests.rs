use super::*;
use crate::domain::{AgentId, CallId, CallStatus};
use serde_json::json;

fn spec(v: serde_json::Value) -> ScriptSpec {
    serde_json::from_value(v).expect("script parses")
}

fn fields(s: &ScriptSpec) -> Vec<String> {
    s.validate("media").into_iter().map(|e| e.field).collect()
}

fn survey() -> serde_json::Value {
    json!({
        "optOutKey": "9",
        "steps": [
            {"id": "intro", "play": "intro.wav"},
            {"id": "ask", "gather": {"prompt": "ask.wav", "branches": {"1": "yes", "2": "no"},
                                      "noInput": "ask"}},
            {"id": "yes", "record": {"maxSeconds": 10}, "next": "bye"},
            {"id": "no", "goto": "bye"},
            {"id": "bye", "hangup": true}
        ]
    })
}

#[test]
fn a_survey_is_valid_and_defaults_apply() {
    let s = spec(survey());
    assert!(fields(&s).is_empty(), "{:?}", s.validate("media"));
    let g = s.steps[1].gather.as_ref().unwrap();
    assert_eq!(
        (g.max_digits, g.timeout_seconds, g.terminator.as_str()),
        (1, 5.0, "#")
    );
    let r = s.steps[2].record.as_ref().unwrap();
    assert_eq!(
        (r.beep, r.silence_seconds, r.finish_key.as_str()),
        (true, 5.0, "#")
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut v = survey();
    v["steps"][0]["plya"] = json!("x.wav");
    assert!(serde_json::from_value::<ScriptSpec>(v).is_err());
}

#[test]
fn each_bad_field_is_named() {
    let s = spec(json!({
        "optOutKey": "99",
        "steps": [
            {"id": "a", "play": "../etc/passwd.wav"},
            {"play": "a.wav", "hangup": true},
            {"gather": {"maxDigits": 0, "timeoutSeconds": 100, "terminator": "x",
                        "branches": {"1": "nowhere"}}},
            {"id": "a", "record": {"maxSeconds": 0, "silenceSeconds": 0.1, "finishKey": "%"}},
            {"goto": "missing"},
            {"hangup": false},
            {"play": "/abs.wav"},
            {"play": "notes.txt"}
        ]
    }));
    let f = fields(&s);
    for want in [
        "media.optOutKey",
        "media.steps[0].play",
        "media.steps[1]",
        "media.steps[2].gather.maxDigits",
        "media.steps[2].gather.timeoutSeconds",
        "media.steps[2].gather.terminator",
        "media.steps[2].gather.name",
        "media.steps[2].gather.branches.1",
        "media.steps[3].id",
        "media.steps[3].record.maxSeconds",
        "media.steps[3].record.silenceSeconds",
        "media.steps[3].record.finishKey",
        "media.steps[4].goto",
        "media.steps[5].hangup",
        "media.steps[6].play",
        "media.steps[7].play",
    ] {
        assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
    }
}

#[test]
fn branches_may_not_start_with_the_opt_out_key() {
    let s = spec(json!({
        "optOutKey": "9",
        "steps": [{"id": "q", "gather": {"branches": {"9": "q"}}}]
    }));
    assert_eq!(fields(&s), ["media.steps[0].gather.branches.9"]);
}

#[test]
fn missing_prompts_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("intro.wav"), b"x").unwrap();
    let s = spec(survey());
    let errs = s.missing_prompts(dir.path(), "media");
    let f: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(f, ["media.steps[1].gather.prompt"]);
}

#[test]
fn results_come_from_gathered_events_last_wins() {
    let ev = |detail: &str| CallEvent {
        call_id: CallId(uuid::Uuid::nil()),
        agent_id: AgentId(uuid::Uuid::nil()),
        event: DTMF_GATHERED,
        status: CallStatus::InProgress,
        at: chrono::Utc::now(),
        detail: Some(detail.to_string()),
    };
    let history = [
        ev(r#"{"step":"ask","name":"ask","digits":"1"}"#),
        ev(r#"{"step":"ask","name":"ask","digits":"2"}"#),
        ev(r#"{"step":"zip","name":"zip","digits":"90210"}"#),
    ];
    let r = results(&history);
    assert_eq!(r.get("ask").map(String::as_str), Some("2"));
    assert_eq!(r.get("zip").map(String::as_str), Some("90210"));
}
