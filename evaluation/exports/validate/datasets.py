"""Training rows: the schema of each export format and the checks of its rows."""

from __future__ import annotations

import json
from typing import Any

from evaluation.exports.validate.report import Checks
from evaluation.exports.validate.values import _a_type, _digest, _encodable, _show, _squash

ROLES = ("system", "user", "assistant")

# The top-level keys of each row, by (kind, format). OpenAI has no KTO format.
SCHEMAS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sft", "trl"): ("messages",),
    ("dpo", "trl"): ("prompt", "chosen", "rejected"),
    ("kto", "trl"): ("prompt", "completion", "label"),
    ("sft", "openai"): ("messages",),
    ("dpo", "openai"): ("input", "preferred_output", "non_preferred_output"),
}


class DatasetRowChecks(Checks):
    """SFT, DPO and KTO rows in TRL or OpenAI form: their keys, conversations and messages, and
    preference pairs or labels that contradict an earlier row."""

    format: str
    schema: tuple[str, ...]
    schema_name: str
    verdicts: dict[bytes, int]

    def _dataset_row(self, row: dict[str, Any]) -> None:
        for key in self.schema:
            if key not in row:
                self.error("", f"missing key {_show(key)}")
        for key in sorted(row.keys() - set(self.schema)):
            owners = [f"{f} {k}" for (k, f), keys in SCHEMAS.items() if key in keys]
            if owners:
                # A key of another schema means the wrong kind or format: TRL infers the
                # dataset type from the column names, so the row would be read another way.
                belongs = " / ".join(owners)
                self.error(
                    "",
                    f"unexpected key {_show(key)}: it belongs to {belongs} rows, "
                    f"not {self.schema_name}",
                )
            else:
                # Other extra columns (an id, metadata) load fine and TRL leaves them unused.
                self.warning("", f"unknown key {_show(key)} (not part of {self.schema_name})")
        if self.kind == "sft":
            if "messages" in row:
                self._conversation(row["messages"], "messages", last="assistant")
        elif self.format == "openai":
            prompt = self._openai_input(row)
            chosen = self._answer(row, "preferred_output")
            rejected = self._answer(row, "non_preferred_output")
            self._pair(prompt, chosen, rejected, "preferred_output", "non_preferred_output")
        else:
            prompt = None
            if "prompt" in row and self._conversation(row["prompt"], "prompt", last="user"):
                prompt = row["prompt"]
            if self.kind == "dpo":
                chosen, rejected = self._answer(row, "chosen"), self._answer(row, "rejected")
                self._pair(prompt, chosen, rejected, "chosen", "rejected")
            else:
                self._kto(row, prompt, self._answer(row, "completion"))

    def _openai_input(self, row: dict[str, Any]) -> Any:
        if "input" not in row:
            return None
        value = row["input"]
        if not isinstance(value, dict):
            self.error("input", f'expected an object with "messages", got {_a_type(value)}')
            return None
        for key in sorted(value.keys() - {"messages"}):
            self.warning("input", f"unknown key {_show(key)}")
        if "messages" not in value:
            self.error("input", 'missing key "messages"')
            return None
        if self._conversation(value["messages"], "input.messages", last="user"):
            return value["messages"]
        return None

    def _pair(self, prompt: Any, chosen: str | None, rejected: str | None, a: str, b: str) -> None:
        if chosen is None or rejected is None:
            return
        chosen, rejected = _squash(chosen), _squash(rejected)
        if chosen == rejected:
            # A warning, not an error: TRL trains on such a row without failing (its DPO loss
            # is the constant log 2, so no gradient); it wastes compute but breaks no run.
            self.warning("", f"{a} and {b} have the same text (nothing to prefer)")
        if prompt is not None:
            prompt_key = _digest(prompt).hex()
            self._verdict(
                _digest(prompt_key, chosen, rejected),
                _digest(prompt_key, rejected, chosen),
                f"the same prompt with {a} and {b} swapped",
            )

    def _kto(self, row: dict[str, Any], prompt: Any, completion: str | None) -> None:
        label = row.get("label")
        if "label" in row and not isinstance(label, bool):
            self.error("label", f"expected true or false, got {_show(label)}")
            return
        if prompt is not None and completion is not None and "label" in row:
            prompt_key, completion = _digest(prompt).hex(), _squash(completion)
            self._verdict(
                _digest(prompt_key, completion, label),
                _digest(prompt_key, completion, not label),
                f"the same prompt and completion labelled {json.dumps(not label)}",
            )

    def _verdict(self, digest: bytes, opposite: bytes, what: str) -> None:
        if opposite in self.verdicts:
            self.warning("", f"contradicts line {self.verdicts[opposite]}: {what}")
        self.verdicts.setdefault(digest, self.line)

    def _conversation(self, value: Any, path: str, *, last: str) -> bool:
        """An optional system message, then user and assistant turns alternating from user,
        ending with ``last``; returns whether the list passed."""
        if not isinstance(value, list):
            self.error(path, f"expected an array of messages, got {_a_type(value)}")
            return False
        if not value:
            self.error(path, "expected at least one message, got an empty array")
            return False
        errors_before = self.report.error_count
        roles = [self._message(message, f"{path}[{i}]") for i, message in enumerate(value)]
        if None not in roles:
            self._turn_order(roles, path, last)
        return self.report.error_count == errors_before

    def _turn_order(self, roles: list[str | None], path: str, last: str) -> None:
        first = 1 if roles[0] == "system" else 0
        for i in range(first, len(roles)):
            expected = "user" if (i - first) % 2 == 0 else "assistant"
            if roles[i] != expected:
                why = (
                    "a system message may only come first"
                    if roles[i] == "system"
                    else "turns alternate user, assistant, starting with user"
                )
                self.error(f"{path}[{i}].role", f'expected "{expected}", got "{roles[i]}" ({why})')
                return  # one misplaced turn would otherwise flag every turn after it
        if len(roles) == first:
            self.error(path, "expected a user turn after the system message")
        elif roles[-1] != last:
            self.error(path, f'expected the last message to be "{last}", got "{roles[-1]}"')

    def _answer(self, row: dict[str, Any], key: str) -> str | None:
        """A list of exactly one assistant message; returns its text when it passed."""
        if key not in row:
            return None
        value = row[key]
        if not isinstance(value, list):
            self.error(key, f"expected an array of one assistant message, got {_a_type(value)}")
            return None
        if len(value) != 1:
            self.error(key, f"expected exactly one assistant message, got {len(value)}")
            return None
        errors_before = self.report.error_count
        self._message(value[0], f"{key}[0]", expected="assistant")
        return value[0]["content"] if self.report.error_count == errors_before else None

    def _message(self, value: Any, path: str, *, expected: str | None = None) -> str | None:
        """Checks one ``{role, content}`` message; returns its role when the role is valid."""
        if not isinstance(value, dict):
            self.error(path, f"expected a message object, got {_a_type(value)}")
            return None
        for key in sorted(value.keys() - {"role", "content"}):
            # OpenAI accepts more (name, weight, tool_calls); they break nothing when loading.
            self.warning(path, f"unknown key {_show(key)}")
        role = value.get("role")
        valid_role = None
        if "role" not in value:
            self.error(path, 'missing key "role"')
        elif expected is not None and role != expected:
            self.error(f"{path}.role", f'expected "{expected}", got {_show(role)}')
        elif not isinstance(role, str) or role not in ROLES:
            self.error(
                f"{path}.role", f'expected "system", "user" or "assistant", got {_show(role)}'
            )
        else:
            valid_role = role
        if "content" not in value:
            self.error(path, 'missing key "content"')
        else:
            # An empty system prompt is pointless but harmless; an empty turn teaches nothing.
            self._text(value["content"], f"{path}.content", may_be_blank=role == "system")
        return valid_role

    def _text(self, value: Any, path: str, *, may_be_blank: bool = False) -> None:
        if not isinstance(value, str):
            self.error(path, f"expected a string, got {_a_type(value)}")
            return
        if not value.strip():
            blank = "whitespace-only text" if value else "empty text"
            (self.warning if may_be_blank else self.error)(path, blank)
        elif len(value) > self.max_chars:
            self.warning(
                path, f"very long text ({len(value):,} characters, over {self.max_chars:,})"
            )
        if not _encodable(value):
            self.error(path, "invalid Unicode: an unpaired surrogate escape")
