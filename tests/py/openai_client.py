#!/usr/bin/env python3
"""Drive a `chimera serve` instance holding gemma3:270m and smollm2:135m with the official
`openai` Python package.

Usage: python3 tests/py/openai_client.py http://127.0.0.1:PORT
Exits 0 when every check passes, 1 (with the failing check) otherwise.
Checks: models.list / retrieve with both names; chat completions streaming and not, on each
model under its own name; stream_options.include_usage with prompt_tokens_details.cached_tokens
(the same prompt again is served from the cache); llama-server's `timings`; text completions;
an unknown model is a NotFoundError with code model_not_found; a bad option a BadRequestError.
"""

import openai

from checks import check, run

SMOL = "smollm2:135m"
GEMMA = "gemma3:270m"


def main(url):
    c = openai.OpenAI(base_url=url + "/v1", api_key="not-needed", max_retries=0, timeout=120)

    ids = [m.id for m in c.models.list()]
    check(GEMMA in ids and SMOL in ids, f"models.list() shows both models ({ids})")
    m = c.models.retrieve(SMOL)
    check(m.id == SMOL and (m.model_extra or {}).get("digest", "").startswith("sha256:"), "models.retrieve() with digest")

    msgs = [{"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
    args = dict(messages=msgs, max_tokens=16, temperature=0, seed=1)

    # not streaming
    r = c.chat.completions.create(model=SMOL, **args)
    text = r.choices[0].message.content
    check(r.model == SMOL and r.choices[0].message.role == "assistant" and text, f"chat answer from {SMOL} ({text!r})")
    check(r.choices[0].finish_reason in ("stop", "length"), f"finish_reason ({r.choices[0].finish_reason})")
    u = r.usage
    check(u.prompt_tokens > 0 and u.completion_tokens > 0 and u.total_tokens == u.prompt_tokens + u.completion_tokens,
          f"usage ({u})")
    timings = (r.model_extra or {}).get("timings") or {}
    check(timings.get("predicted_n") == u.completion_tokens and timings.get("predicted_ms", 0) > 0,
          f"llama-server timings ({timings})")

    # streaming with include_usage: same text, then a usage chunk (the prompt now cached)
    chunks = list(c.chat.completions.create(model=SMOL, stream=True, stream_options={"include_usage": True}, **args))
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    check(streamed == text, "streamed text equals the non-streamed text (greedy)")
    last = chunks[-1]
    check(last.usage is not None and not last.choices, "include_usage: a last chunk with usage and no choices")
    cached = last.usage.prompt_tokens_details.cached_tokens
    check(cached == last.usage.prompt_tokens - 1,
          f"the same prompt again reuses all but its last token ({cached} of {last.usage.prompt_tokens} cached)")
    plain = list(c.chat.completions.create(model=SMOL, stream=True, **args))
    check(all(ch.usage is None for ch in plain), "no usage chunk unless asked")

    # the other model, under its own name
    g = c.chat.completions.create(model=GEMMA, **args)
    check(g.model == GEMMA and g.choices[0].message.content, f"chat answer from {GEMMA}")

    # text completions, both ways
    t = c.completions.create(model=GEMMA, prompt="Once upon a time", max_tokens=6, temperature=0)
    check(t.choices[0].text and t.choices[0].finish_reason == "length", f"completion ({t.choices[0].text!r})")
    ts = "".join(ch.choices[0].text for ch in c.completions.create(
        model=GEMMA, prompt="Once upon a time", max_tokens=6, temperature=0, stream=True) if ch.choices)
    check(ts == t.choices[0].text, "streamed completion equals the non-streamed one")

    # errors
    try:
        c.chat.completions.create(model="no-such-model:1b", messages=msgs)
        check(False, "unknown model raises")
    except openai.NotFoundError as e:
        check(e.status_code == 404 and e.code == "model_not_found", f"unknown model -> NotFoundError ({e.code})")
    try:
        c.chat.completions.create(model=SMOL, messages=msgs, top_p=7)
        check(False, "top_p=7 raises")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "top_p" in str(e), "top_p=7 -> BadRequestError naming top_p")
    print("ALL OK", flush=True)


if __name__ == "__main__":
    run(main, __doc__)
