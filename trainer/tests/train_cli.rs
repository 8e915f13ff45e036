//! `edgeq train` / `eval` / `export` through the command line, with a TOML config, an ONNX
//! teacher written by the trainer itself, and the errors a user meets first.

use std::process::Command;

fn edgeq() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgeq"));
    c.env("RUST_BACKTRACE", "0");
    c
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn train_a_teacher_from_config_then_a_w4a4_student_distilled_from_its_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("teacher.toml");
    std::fs::write(
        &config,
        "arch = \"mlp\"\nepochs = 1\nonnx = true\naugment = \"none\"\n",
    )
    .unwrap();
    let teacher = dir.path().join("teacher");
    run_ok(
        edgeq()
            .args(["train", "--config"])
            .arg(&config)
            .arg("-o")
            .arg(&teacher),
    );
    for ext in ["bpk", "json", "onnx"] {
        assert!(
            teacher.with_extension(ext).exists(),
            "teacher.{ext} missing"
        );
    }

    let student = dir.path().join("student");
    let report = run_ok(
        edgeq()
            .args(["train", "--arch", "cnn", "--epochs", "1", "--bits", "w4a4"])
            .args([
                "--qat-epochs",
                "1",
                "--balancer",
                "gor-soft",
                "--augment",
                "auto",
            ])
            .arg("--teacher")
            .arg(teacher.with_extension("onnx"))
            .arg("-o")
            .arg(&student),
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let exported = &report["exported"];
    assert!(
        exported["agreement"].as_f64().unwrap() >= 0.995,
        "{exported}"
    );
    let accuracy = exported["runtime"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.5, "{accuracy}");
    assert_eq!(report["recipe"]["balancer"]["kind"], "gor-soft");
    assert!(report["epochs"][0]["kd_loss"].as_f64().unwrap() > 0.0);

    assert!(!report["recipe"]["augment"].as_str().unwrap().is_empty());

    // `edgeq augment rank` scores policies with the teacher, best first, score = KL − CE.
    let ranking = dir.path().join("ranking.json");
    run_ok(
        edgeq()
            .args([
                "augment",
                "rank",
                "--policies",
                "none;shift=2;mixup=0.2",
                "--teacher",
            ])
            .arg(teacher.with_extension("bpk"))
            .arg("--json")
            .arg(&ranking),
    );
    let ranking: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ranking).unwrap()).unwrap();
    let rows = ranking.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let score = |r: &serde_json::Value| r["score"].as_f64().unwrap();
    assert!(score(&rows[0]) >= score(&rows[1]) && score(&rows[1]) >= score(&rows[2]));
    for r in rows {
        let want = r["contextual_kl"].as_f64().unwrap() - r["cross_entropy"].as_f64().unwrap();
        assert!((score(r) - want).abs() < 1e-5);
    }

    // `edgeq eval` scores the written .eqm with the runtime: the same accuracy.
    let eval = run_ok(
        edgeq()
            .arg("eval")
            .arg(student.with_extension("eqm"))
            .arg("--json"),
    );
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(eval["accuracy"].as_f64().unwrap(), accuracy);
    assert_eq!(eval["images"], 2004);

    // `edgeq export` writes the same .eqm from the checkpoint.
    let again = dir.path().join("again.eqm");
    run_ok(
        edgeq()
            .arg("export")
            .arg(student.with_extension("bpk"))
            .arg("-o")
            .arg(&again),
    );
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(student.with_extension("eqm")).unwrap()
    );
}

#[test]
fn clear_errors_for_wrong_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--arch", "transformer"],
            "unknown architecture 'transformer'",
        ),
        (
            &["--arch", "cnn", "--bits", "w3a3"],
            "--bits must be w8a8, w4a4, w4a8 or w8a4",
        ),
        (
            &["--arch", "cnn", "--augment", "blur=1"],
            "unknown augmentation 'blur'",
        ),
        (
            &["--arch", "cnn", "--data", "/nonexistent"],
            "not a dataset folder",
        ),
        // A flag without a value, checked before any training.
        (
            &["--arch", "cnn", "--bits", "w8a8", "--onnx"],
            "--onnx writes float networks",
        ),
    ];
    for (args, message) in cases {
        let o = edgeq()
            .arg("train")
            .args(args)
            .args(["--epochs", "1", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
