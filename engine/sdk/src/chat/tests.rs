use serde_json::json;

use super::*;

fn chat(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
    pairs.iter().map(|(role, content)| ChatMessage { role: (*role).into(), content: (*content).into() }).collect()
}

/// A ChatML template with a default system prompt, in the shape many
/// instruct models ship (written for this test).
const CHATML: &str = "{% for m in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nBe brief.<|im_end|>\\n' }}{% endif %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

#[test]
fn chatml_adds_its_default_system_prompt_and_the_generation_prompt() {
    let template = ChatTemplate::new(CHATML, "", "<|im_end|>").expect("compiles");
    let text = template.render(&chat(&[("user", "What is § 91.3?")]), true).expect("renders");
    assert_eq!(
        text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is § 91.3?<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn a_training_pair_splits_at_the_generation_prompt() {
    let template = ChatTemplate::new(CHATML, "", "<|im_end|>").expect("compiles");
    let (prompt, answer) = template.split_for_training(&chat(&[("user", "Q?"), ("assistant", "A.")])).expect("splits");
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
    assert_eq!(answer, "A.<|im_end|>\n");
}

#[test]
fn blocks_are_trimmed_as_transformers_does() {
    let source =
        "{% for m in messages %}\n  {% if m.role == 'user' %}\nU: {{ m.content | trim }}\n  {% endif %}\n{% endfor %}";
    let template = ChatTemplate::new(source, "", "").expect("compiles");
    assert_eq!(template.render(&chat(&[("user", "  hi ")]), false).expect("renders"), "U: hi\n");
}

#[test]
fn python_string_methods_and_raise_exception_work() {
    let source = "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0].content.strip().upper() }}";
    let template = ChatTemplate::new(source, "", "").expect("compiles");
    assert_eq!(template.render(&chat(&[("user", " abc ")]), false).expect("renders"), "ABC");
    let error = template.render(&chat(&[("system", "x")]), false).expect_err("raises");
    assert!(error.to_string().contains("first must be user"), "{error}");
}

#[test]
fn the_tokenizer_config_gives_the_template_and_its_tokens() {
    let config = json!({
        "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
        "bos_token": {"content": "<s>"},
        "eos_token": "</s>",
    });
    let template = ChatTemplate::from_tokenizer_config(&config).expect("compiles").expect("present");
    assert_eq!(template.render(&chat(&[("user", "x")]), false).expect("renders"), "<s>x</s>");
    assert!(ChatTemplate::from_tokenizer_config(&json!({})).expect("no error").is_none());
}

#[test]
fn a_broken_template_names_its_line() {
    let error = ChatTemplate::new("ok\n{% for %}", "", "").expect_err("does not compile");
    assert!(error.to_string().contains("line 2"), "{error}");
}
