//! The example app classifies the bundled real keyword sample, and fails clearly on bad input.
use std::process::Command;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mlperf-tiny");

fn classify(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgeq-classify"))
        .args(args)
        .output()
        .expect("running edgeq-classify")
}

#[test]
fn classifies_the_keyword_sample_as_on() {
    let out = classify(&[
        &format!("{DATA}/eqm/kws.eqm"),
        &format!("{DATA}/kws_sample0_int8.npy"),
        "--labels",
        "down,go,left,no,off,on,right,stop,up,yes,silence,unknown",
        "--repeat",
        "3",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("top class: on (index 5, score 0.9961)"),
        "{stdout}"
    );
    assert!(stdout.contains("median"), "{stdout}");
}

#[test]
fn wrong_input_size_is_an_error_not_a_crash() {
    let out = classify(&[
        &format!("{DATA}/eqm/ic.eqm"),
        &format!("{DATA}/kws_sample0_int8.npy"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("490 data bytes, the model's input takes 3072"),
        "{stderr}"
    );
    let out = classify(&["only-one-arg"]);
    assert_eq!(out.status.code(), Some(2));
}
