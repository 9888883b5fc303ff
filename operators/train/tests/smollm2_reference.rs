//! A real pretrained model end to end against an independent
//! implementation: SmolLM2-135M-Instruct (GGUF, Q4_1) imported by Hangar,
//! then its weights, tokenizer, chat template, logits and greedy
//! continuations compared with llama.cpp's `gguf` package and
//! `transformers` reading the same file (scripts/reference/smollm2_check.py).
//! scripts/reference/setup.sh provides the model and the reference venv;
//! scripts/test.sh sources it.

use std::path::{Path, PathBuf};
use std::process::Command;

use hangar_train::infer::{GenerationRequest, LoadedModel};
use serde_json::json;

fn required(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run `. scripts/reference/setup.sh` first (scripts/test.sh does)"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first `count` non-empty lines of the text files under `dir`, in path order.
fn corpus_lines(dir: &Path, count: usize) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("corpus folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|x| ["md", "csv", "txt", "json", "xml"].contains(&x.to_str().unwrap_or("")))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            lines.push(line.chars().take(2000).collect());
            if lines.len() == count {
                return lines;
            }
        }
    }
    lines
}

#[test]
fn smollm2_imported_from_gguf_matches_transformers() {
    let gguf = PathBuf::from(required("HANGAR_TEST_GGUF"));
    let python = required("HANGAR_REFERENCE_PYTHON");
    let case = tempfile::tempdir().expect("tempdir");
    let model_dir = case.path().join("model");
    let imported = hangar_import::import(&gguf, &model_dir).expect("imports");
    assert_eq!(imported.architecture, "llama");
    assert!(imported.has_chat_template);
    let model = LoadedModel::load(&model_dir).expect("loads");
    let tokenizer = model.tokenizer();
    let encode = |text: &str| tokenizer.encode(text, false).expect("encodes").get_ids().to_vec();

    let corpus = repo().join("../shared/corpus");
    let mut lines = corpus_lines(&corpus.join("us_14cfr_markdown_flightvault"), 500);
    lines.extend(corpus_lines(&corpus.join("cn_caac_airworthiness_jl0042"), 500));
    assert_eq!(lines.len(), 1000, "the corpus has fewer lines than expected");
    let line_ids: Vec<Vec<u32>> = lines.iter().map(|l| encode(l)).collect();

    let chat = vec![("user".to_owned(), "What is an airworthiness directive?".to_owned())];
    let chat_ids = model.chat_prompt(&chat).expect("renders the chat");
    let chat_text = tokenizer.decode(&chat_ids, false).expect("decodes");
    let mut prompts = Vec::new();
    let texts = [
        "The pilot in command of an aircraft is directly responsible for",
        "No person may operate a civil aircraft unless it is in an airworthy condition. An airworthiness certificate",
        "民用航空器的适航管理",
        "第二十一条 航空器的所有人或者经营人",
    ];
    let end_ids: Vec<u32> = ["<|im_end|>", "<|endoftext|>"].iter().filter_map(|t| tokenizer.token_to_id(t)).collect();
    for (index, text) in texts.iter().map(|t| (*t).to_owned()).chain([chat_text]).enumerate() {
        let ids = encode(&text);
        let logits = model.logits(&ids);
        let bytes: Vec<u8> = logits.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(case.path().join(format!("logits_{index}.f32")), bytes).expect("writes logits");
        let request = GenerationRequest {
            prompt: ids.clone(),
            max_tokens: 32,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
        };
        let finish = model.generate(&[request], |_| {}).expect("generates").remove(0);
        let mut prompt = json!({"text": text, "ids": ids, "greedy": finish.text, "end_ids": end_ids});
        if index == texts.len() {
            prompt["messages"] = json!([{"role": "user", "content": chat[0].1}]);
        }
        prompts.push(prompt);
    }
    let document = json!({"prompts": prompts, "lines": lines, "line_ids": line_ids});
    std::fs::write(case.path().join("case.json"), document.to_string()).expect("writes the case");

    let output = Command::new(python)
        .arg(repo().join("scripts/reference/smollm2_check.py"))
        .arg(&gguf)
        .arg(case.path())
        .output()
        .expect("the reference python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the reference disagrees:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr).lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}
