"""Drives a running `hangar serve` with the official `openai` Python client:
model list and lookup, chat (text parts), streaming with usage, n > 1,
completions, and the refusal of a negative max_tokens.

usage: openai_client.py BASE_URL TOKEN MODEL
Prints one JSON summary line; exits 1 when anything is off.
"""
import json
import sys

import openai
from openai import OpenAI

base, token, model = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=300)
problems = []
summary = {}

ids = [m.id for m in client.models.list()]
summary["models"] = ids
if model not in ids:
    problems.append(f"{model} is not in models.list(): {ids}")
if client.models.retrieve(model).id != model:
    problems.append("models.retrieve returned another id")

question = [{"role": "user", "content": [{"type": "text", "text": "What is an airworthiness directive?"}]}]
chat = client.chat.completions.create(model=model, messages=question, max_tokens=24, temperature=0)
answer = chat.choices[0].message.content
summary["chat"] = answer
if not answer or not answer.strip():
    problems.append("the chat answer is empty")

pieces, usage = [], None
for chunk in client.chat.completions.create(
    model=model, messages=question, max_tokens=24, temperature=0, stream=True, stream_options={"include_usage": True}
):
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
streamed = "".join(pieces)
summary["stream_usage"] = usage.model_dump() if usage else None
if streamed != answer:
    problems.append(f"the stream differs from the plain answer: {streamed!r} vs {answer!r}")
if usage is None or usage.completion_tokens != chat.usage.completion_tokens:
    problems.append(f"stream usage {usage} does not match {chat.usage}")

several = client.chat.completions.create(model=model, messages=question, max_tokens=8, temperature=0.9, seed=3, n=2)
summary["n"] = len(several.choices)
if [c.index for c in several.choices] != [0, 1]:
    problems.append(f"n=2 gave {len(several.choices)} choices")

completion = client.completions.create(model=model, prompt="The pilot in command of an aircraft", max_tokens=8, temperature=0)
summary["completion"] = completion.choices[0].text
if not completion.choices[0].text:
    problems.append("the completion is empty")

try:
    client.chat.completions.create(model=model, messages=question, max_tokens=-1)
    problems.append("a negative max_tokens was accepted")
except openai.APIStatusError as error:
    summary["negative_max_tokens"] = error.status_code
    if error.status_code != 422 or "max_tokens" not in str(error):
        problems.append(f"a negative max_tokens got {error.status_code}: {error}")

summary["problems"] = problems
print(json.dumps(summary, ensure_ascii=False))
sys.exit(1 if problems else 0)
