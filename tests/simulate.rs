//! `outdial simulate` through the real binary: the shipped scenarios run,
//! report every priority band, and a bad scenario is refused with the key
//! named.

use std::path::Path;
use std::process::{Command, Output};

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outdial"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("run outdial simulate")
}

#[test]
fn the_shipped_scenarios_report_every_band() {
    for scenario in [
        "config/sim-reminders.toml",
        "config/sim-survey-overload.toml",
    ] {
        let out = simulate(&["--scenario", scenario]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{scenario}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bands: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for band in ["10", "8-9", "6-7", "5", "3-4", "0-2", "total"] {
            assert!(
                bands.contains(&band),
                "{scenario}: no row for {band}\n{text}"
            );
        }
        assert!(text.contains("utilisation"), "{scenario}\n{text}");
    }
}

#[test]
fn json_output_is_machine_readable() {
    let out = simulate(&["--scenario", "config/sim-reminders.toml", "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let bands = report["bands"].as_array().expect("bands");
    assert_eq!(bands.len(), 6);
    assert_eq!(bands[0]["band"], "10");
    assert_eq!(bands[0]["targetSeconds"], 60.0);
    assert_eq!(report["unfinished"], 0);
    assert!(report["trunks"][0]["utilisation"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_bad_scenario_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim-reminders.toml"),
    )
    .unwrap();
    std::fs::write(&path, good.replace("channels = 30", "channels = 0")).unwrap();
    let out = simulate(&["--scenario", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trunks[0].channels"), "{err}");
    assert!(out.stdout.is_empty());
}
