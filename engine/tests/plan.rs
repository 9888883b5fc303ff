//! Compilation: params, references, kind checks, dependency edges.

mod common;

use std::sync::Arc;

use hangar_engine::compile;
use serde_json::json;

fn registry() -> hangar_sdk::Registry {
    common::registry(Arc::new(common::Probe::default()))
}

fn errors(yaml: &str, params: &[(&str, &str)]) -> Vec<String> {
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    match compile("p.yaml", yaml, &registry(), &params) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn an_output_reference_adds_the_edge_and_binds_the_port() {
    let yaml = r#"
name: refs
tasks:
  shout: { uses: upper, with: { documents: "${{ tasks.source.outputs.documents }}" } }
  source: { uses: emit, with: { text: hi } }
"#;
    let plan = compile("p.yaml", yaml, &registry(), &[]).expect("valid");
    assert_eq!(plan.order, ["source", "shout"]);
    let shout = &plan.tasks["shout"];
    assert_eq!(shout.deps, ["source"]);
    assert_eq!(shout.bindings.len(), 1);
    assert_eq!(shout.bindings[0].port, "documents");
    assert_eq!(shout.bindings[0].task, "source");
}

#[test]
fn a_reference_of_the_wrong_kind_is_rejected() {
    let yaml = r#"
name: kinds
tasks:
  source: { uses: emit, with: { text: hi } }
  train:
    uses: needs_tokenizer
    with: { tokenizer: "${{ tasks.source.outputs.documents }}" }
"#;
    assert_eq!(
        errors(yaml, &[]),
        [
            "p.yaml:7:24: tasks.train.with.tokenizer: input \"tokenizer\" of needs_tokenizer expects a tokenizer artifact, but tasks.source.outputs.documents is a documents artifact"
        ]
    );
}

#[test]
fn an_input_port_needs_a_reference_not_a_literal() {
    let yaml = r#"
name: literal
tasks:
  shout: { uses: upper, with: { documents: "some/file.jsonl" } }
"#;
    assert_eq!(
        errors(yaml, &[]),
        [
            "p.yaml:4:44: tasks.shout.with.documents: input \"documents\" takes a documents artifact: write `documents: ${{ tasks.ID.outputs.NAME }}`"
        ]
    );
}

#[test]
fn a_missing_required_input_is_reported_by_the_config() {
    let yaml = "name: missing\ntasks:\n  shout: { uses: upper }\n";
    assert_eq!(errors(yaml, &[]), ["p.yaml:3:3: tasks.shout.with: missing field \"documents\""]);
}

#[test]
fn params_keep_their_type_alone_and_interpolate_in_text() {
    let yaml = r#"
name: typed
params:
  ms: { type: integer, default: 5 }
  label: { type: string, default: x }
tasks:
  w: { uses: work, with: { ms: "${{ params.ms }}" } }
  e: { uses: emit, with: { text: "${{ params.label }}-${{ params.ms }}" } }
"#;
    let plan = compile("p.yaml", yaml, &registry(), &[("ms".into(), "250".into())]).expect("valid");
    assert_eq!(plan.tasks["w"].with, json!({"ms": 250}));
    assert_eq!(plan.tasks["e"].with, json!({"text": "x-250"}));
    assert_eq!(plan.params["ms"], json!(250));
}

#[test]
fn bad_param_overrides_are_reported() {
    let yaml = r#"
name: typed
params:
  ms: { type: integer, default: 5 }
  required: { type: string }
tasks:
  w: { uses: work, with: { ms: "${{ params.ms }}" } }
"#;
    assert_eq!(
        errors(yaml, &[("ms", "fast"), ("mss", "1")]),
        [
            "p.yaml:3:1: params: --param mss=1: unknown param \"mss\" (did you mean \"ms\"?)",
            "p.yaml:4:3: params.ms: --param ms=fast: expected an integer, got \"fast\"",
            "p.yaml:5:3: params.required: param \"required\" has no default; pass it with --param required=VALUE",
        ]
    );
}

#[test]
fn a_non_integer_param_in_an_integer_field_is_a_config_error() {
    let yaml = r#"
name: typed
params:
  ms: { type: string, default: soon }
tasks:
  w: { uses: work, with: { ms: "${{ params.ms }}" } }
"#;
    assert_eq!(errors(yaml, &[]), ["p.yaml:6:32: tasks.w.with.ms: invalid type: string \"soon\", expected u64"]);
}

#[test]
fn the_spec_hash_identifies_the_text() {
    let a = compile("p.yaml", "name: a\ntasks:\n  w: { uses: work }\n", &registry(), &[]).expect("valid");
    let b = compile("p.yaml", "name: a\ntasks:\n  w: { uses: work }  \n", &registry(), &[]).expect("valid");
    assert!(a.hash.starts_with("blake3:"));
    assert_ne!(a.hash, b.hash);
}

#[test]
fn an_if_adds_its_edge_and_a_bad_one_says_what_is_accepted() {
    let yaml = r#"
name: gated
tasks:
  gate: { uses: work, if: "${{ tasks.source.outputs.documents.values.ok }}" }
  source: { uses: emit, with: { text: hi } }
"#;
    let plan = compile("p.yaml", yaml, &registry(), &[]).expect("valid");
    assert_eq!(plan.tasks["gate"].deps, ["source"]);
    let errors = errors(
        r#"
name: bad
tasks:
  a: { uses: emit, with: { text: hi } }
  b: { uses: work, if: "${{ tasks.a.outputs.documents }}" }
  c: { uses: work, if: "${{ tasks.nope.outputs.documents.values.ok }}" }
  d: { uses: work, if: "${{ tasks.a.outputs.report.values.ok }}" }
"#,
        &[],
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].contains("tasks.b.if") && errors[0].contains("values.KEY"), "{}", errors[0]);
    assert!(errors[1].contains("tasks.c.if") && errors[1].contains("unknown task \"nope\""), "{}", errors[1]);
    assert!(errors[2].contains("tasks.d.if") && errors[2].contains("no output \"report\""), "{}", errors[2]);
}
