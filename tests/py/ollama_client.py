#!/usr/bin/env python3
"""Drive a `chimera serve` instance with the official `ollama` Python package.

Usage: python3 tests/py/ollama_client.py http://127.0.0.1:PORT
Exits 0 when every check passes, 1 (with the failing check) otherwise.
Checks: generate and chat, streaming and not; num_predict caps tokens; the same seed
reproduces the text; the same prompt again is served from the prompt cache (chimera's extra
`prompt_cached_count` field); list/ps/show; an unknown model is a 404 ResponseError; a
malformed body is a 400 with Ollama's {"error": ...} shape.
"""
import json
import urllib.error
import urllib.request

import ollama

from checks import check, run

MODEL = "gemma3:270m"


def raw_generate(url, body):
    req = urllib.request.Request(url + "/api/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read().decode())


def main(url):
    c = ollama.Client(host=url, timeout=120)
    opts = {"num_predict": 6, "temperature": 0.7, "seed": 7, "num_ctx": 512}

    # generate, not streaming; seed reproduces the text
    a = c.generate(model=MODEL, prompt="Once upon a time", options=opts, stream=False)
    b = c.generate(model=MODEL, prompt="Once upon a time", options=opts, stream=False)
    check(a.done and a.response != "", "generate stream=False returns text")
    check(a.response == b.response, f"same seed reproduces the text ({a.response!r})")
    check(0 < a.eval_count <= 6, f"num_predict=6 caps eval_count ({a.eval_count})")
    check(a.eval_duration > 0 and a.prompt_eval_count > 0 and a.total_duration > 0, "timings in ns present")

    # num_predict caps tokens, done_reason says why
    capped = c.generate(model=MODEL, prompt="List the numbers: 1, 2, 3,", options={"num_predict": 2, "temperature": 0}, stream=False)
    check(capped.eval_count <= 2, f"num_predict=2 gives at most 2 tokens ({capped.eval_count})")
    check(capped.done_reason in ("length", "stop"), f"done_reason reported ({capped.done_reason})")

    # generate, streaming
    parts = list(c.generate(model=MODEL, prompt="Once upon a time", options=opts, stream=True))
    check(len(parts) >= 2 and parts[-1].done and not parts[0].done, f"generate streams chunks ({len(parts)})")
    streamed = "".join(p.response for p in parts)
    check(streamed == a.response, "streamed text equals the non-streamed text for the same seed")
    check(parts[-1].eval_count == a.eval_count, "final chunk carries eval_count")

    # chimera's extra fields in the final object (the client's models ignore them, as Ollama's
    # clients ignore unknown fields): prompt tokens reused from the cache, and truncation.
    body = {"model": MODEL, "prompt": "The history of the bicycle begins in 1817, when", "stream": False,
            "options": {"num_predict": 2, "temperature": 0, "num_ctx": 512}}
    first, second = raw_generate(url, body), raw_generate(url, body)
    n = first["prompt_eval_count"] + first["prompt_cached_count"]
    check(second["prompt_eval_count"] == 1 and second["prompt_cached_count"] == n - 1,
          f"the same prompt again reuses all but its last token ({second['prompt_cached_count']} of {n} cached)")
    check(first["prompt_truncated"] is False, "prompt_truncated reported")
    again = c.generate(model=MODEL, prompt=body["prompt"], options=body["options"], stream=False)
    check(again.prompt_eval_count == 1 and again.response == first["response"], "the client reads the cached answer")

    # chat, both ways
    msgs = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Name a colour."}]
    r = c.chat(model=MODEL, messages=msgs, options=opts, stream=False)
    check(r.done and r.message.role == "assistant", "chat stream=False answers as assistant")
    ch = list(c.chat(model=MODEL, messages=msgs, options=opts, stream=True))
    check(ch[-1].done and "".join(x.message.content for x in ch) == r.message.content, "chat streaming matches")

    # model listing
    names = [m.model for m in c.list().models]
    check(MODEL in names, f"list() shows {MODEL} ({names})")
    check(any(m.model == MODEL for m in c.ps().models), "ps() shows the loaded model")
    s = c.show(MODEL)
    check(s.details is not None and s.details.format == "gguf", "show() returns details")

    # errors
    try:
        c.generate(model="no-such-model:1b", prompt="x", stream=False)
        check(False, "unknown model raises")
    except ollama.ResponseError as e:
        check(e.status_code == 404, f"unknown model -> 404 ({e.status_code}: {e.error})")

    req = urllib.request.Request(url + "/api/generate", data=b"{not json", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30)
        check(False, "malformed body is rejected")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read().decode())
        check(e.code == 400 and "error" in body, f"malformed body -> 400 {body}")
    print("ALL OK", flush=True)


if __name__ == "__main__":
    run(main, __doc__)
