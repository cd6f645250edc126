"""anymail's Postmark backend, with Postmark's batch call: many complete messages in one request.

`POST /email/batch` takes a list of up to 500 messages, each exactly what `POST /email` takes for one, and answers
200 with one result per message in the same order (its MessageID, or the ErrorCode and Message of its refusal:
an inactive recipient, an invalid address). Unlike Mailgun's batch form there are no merge fields: anymail builds
each message's JSON as it does for a single send, so every recipient gets what a single send would have sent.
anymail's own Postmark batch (`to` with `merge_data`) needs an ESP-stored template, which commhub does not use.
"""

from __future__ import annotations

import re
from typing import Any

from anymail.backends.postmark import EmailBackend as AnymailPostmarkBackend
from anymail.exceptions import AnymailRequestsAPIError

from .base import DeliveryError, PermanentError, SendResult

# Postmark's limit per batch call (its API also caps a request at 50 MB; 500 bulk emails stay far below it)
BATCH_LIMIT = 500
# Postmark's words for an invalid recipient address (ErrorCode 300), as anymail reads them
_BAD_TO = re.compile(r"^(Invalid|Error\s+parsing)\s+'(To|Cc|Bcc)'", re.IGNORECASE)


class _BatchPayload:
    """The request for several messages' payloads: their JSON objects in one array, to email/batch."""

    def __init__(self, payloads: list[Any]) -> None:
        self.payloads = payloads

    def get_request_params(self, api_url: str) -> dict[str, Any]:
        # The first payload's own request (the backend adds the server token's header there), with the list
        # as its body: one message's JSON serialized once more per call, against rebuilding what anymail adds.
        params = self.payloads[0].get_request_params(api_url)
        params["url"] = f"{api_url}email/batch"
        params["data"] = "[" + ",".join(p.serialize_data() for p in self.payloads) + "]"
        return params


class EmailBackend(AnymailPostmarkBackend):
    def send_each(self, messages: list[Any]) -> list[dict[str, Any]]:
        """Send `messages` (at most BATCH_LIMIT, the session open) in one call; Postmark's answer for each, in
        order. AnymailRequestsAPIError when the call as a whole fails or the answer is not one result per
        message."""
        batch = _BatchPayload([self.build_message_payload(m, self.send_defaults) for m in messages])
        response = self.post_to_esp(batch, messages[0])
        answers = self.deserialize_json_response(response, batch, messages[0])
        one_each = (
            isinstance(answers, list)
            and len(answers) == len(messages)
            and all(isinstance(a, dict) and ("MessageID" in a or a.get("ErrorCode")) for a in answers)
        )
        if response.status_code != 200 or not one_each:
            raise AnymailRequestsAPIError(
                "Postmark refused the batch" if response.status_code != 200 else "Invalid Postmark batch response",
                email_message=messages[0],
                payload=batch,
                response=response,
                backend=self,
            )
        return answers


def answer_result(answer: dict[str, Any], *, provider: str) -> SendResult | DeliveryError:
    """One message's result in a batch answer, as its single send would have ended through anymail: accepted
    (sent, or queued when Postmark says delivery may be delayed); its recipient refused (ErrorCode 406, inactive
    after a hard bounce or a complaint; 300 about the To address; accepted but not for its one, inactive,
    address); any other refusal as the 422 a single send gets."""
    code, text = answer.get("ErrorCode") or 0, str(answer.get("Message") or "")
    if code == 0 and "inactive addresses" not in text:
        status = "queued" if "delivery may be delayed" in text else "sent"
        return SendResult(provider_message_id=str(answer["MessageID"]), status=status)
    if code in (0, 406) or (code == 300 and _BAD_TO.match(text) is not None):
        return PermanentError(f"recipient refused by {provider}: {text}", code="recipients_refused")
    return PermanentError(f"{provider} API refused the message: {code} {text}", code="http_422")
