import json
from .conftest import openai_headers, anthropic_headers, parse_sse

def test_probe(stack, http):
    for model in ["gpt-4o-mini", "llama-3.1-8b", "claude-sonnet", "gemini-flash"]:
        for fault in ["reset", "malformed", "429", "500", "503"]:
            for stream in [False, True]:
                b = {"model": model, "stream": stream, "messages": [{"role": "user", "content": f"one two three four sim:fault={fault}"}]}
                try:
                    r = http.post("/v1/chat/completions", json=b, headers=openai_headers(stack.token))
                    print("OAI", model, fault, stream, r.status_code, dict((k,v) for k,v in r.headers.items() if k in ("retry-after",)), r.text[-300:].replace("\n","|"))
                except Exception as e:
                    print("OAI", model, fault, stream, "EXC", repr(e))
                b["max_tokens"] = 100
                try:
                    r = http.post("/v1/messages", json=b, headers=anthropic_headers(stack.token))
                    print("ANT", model, fault, stream, r.status_code, dict((k,v) for k,v in r.headers.items() if k in ("retry-after",)), r.text[-300:].replace("\n","|"))
                except Exception as e:
                    print("ANT", model, fault, stream, "EXC", repr(e))
