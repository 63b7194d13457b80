"""Scripted LLM judges for a ``FakeModelServer``: each is a function of the chat-completion
request's body that returns the answer's text, so a test knows exactly what the judge
"thinks". They read the answers from ftapp's default judge prompt (``<answer>``,
``<answer_A>``, ``<answer_B>``) and answer in its JSON schema (the request's
``response_format``), rubric included.

    with FakeModelServer(answer=truthful(quality, noise=0.2)) as server:
        endpoint = make_endpoint(lead, server, "judge")
        run = judge_run_start(by=lead, project_id=..., endpoint_id=endpoint.pk, selection=...)

``quality(text) -> float`` is the hidden truth: the better answer of a pair has the higher
quality, and a rated answer's rating is its quality rounded into 1..5. With ``noise`` the
judge answers at random that share of the time, the same way for the same request and seed
(so a run is reproducible). ``first_shown`` always prefers answer A as shown (a pure
position bias: its verdicts do not survive the swap), ``longer`` the longer answer, and
``malformed`` never answers JSON at all."""

import json
import random
import re
from collections.abc import Callable

CHOICES = ["A", "B", "tie", "both_bad"]
Judge = Callable[[dict], str]


def _between(content: str, tag: str) -> str | None:
    found = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", content, re.DOTALL)
    return found.group(1) if found else None


def shown(body: dict) -> tuple[str, str] | str:
    """The answers the request shows: (A, B) for a pair, the one answer for a rating."""
    content = body["messages"][-1]["content"]
    first, second = _between(content, "answer_A"), _between(content, "answer_B")
    if first is not None and second is not None:
        return first, second
    answer = _between(content, "answer")
    if answer is None:
        raise ValueError("Not ftapp's default judge prompt: no <answer> in it.")
    return answer


def _reply(body: dict, *, choice: str | None = None, rating: int | None = None) -> str:
    """The JSON answer the request's schema asks for."""
    schema = body["response_format"]["json_schema"]["schema"]
    answer: dict = {"rationale": "Scripted."}
    if "choice" in schema["properties"]:
        answer["choice"] = choice
    else:
        answer["rating"] = rating
        if "rubric" in schema["properties"]:
            answer["rubric"] = dict.fromkeys(schema["properties"]["rubric"]["required"], rating)
    return json.dumps(answer)


def _rng(body: dict, seed: int) -> random.Random:
    return random.Random(f"{seed}:{body.get('seed')}:{body['messages'][-1]['content']}")


def truthful(quality: Callable[[str], float], *, noise: float = 0.0, seed: int = 0) -> Judge:
    """Follows the hidden truth, except a ``noise`` share of the time."""

    def answer(body: dict) -> str:
        rng = _rng(body, seed)
        noisy = rng.random() < noise
        answers = shown(body)
        if isinstance(answers, str):
            rating = rng.randint(1, 5) if noisy else min(5, max(1, round(quality(answers))))
            return _reply(body, rating=rating)
        if noisy:
            return _reply(body, choice=rng.choice(CHOICES))
        a, b = (quality(text) for text in answers)
        return _reply(body, choice="A" if a > b else "B" if b > a else "tie")

    return answer


def first_shown(body: dict) -> str:
    """Always the answer shown first (a rating: always 3)."""
    return _reply(body, choice="A", rating=3)


def longer(body: dict) -> str:
    """The longer answer (a rating: longer answers rate higher)."""
    answers = shown(body)
    if isinstance(answers, str):
        return _reply(body, rating=min(5, 1 + len(answers) // 20))
    a, b = (len(text) for text in answers)
    return _reply(body, choice="A" if a > b else "B" if b > a else "tie")


def malformed(body: dict) -> str:
    """Prose where JSON was asked for."""
    return "I think the first answer is better, because it is clearer."
