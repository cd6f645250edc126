"""The one-statement policy check (every send, every single submit) must agree with the full checks on every
combination of suppressions, consent entries and preferences — same outcome, and the same words when it
passes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preferences import policy
from preferences.models import ConsentRecord, Preference, Suppression
from preferences.selectors import policy_facts, policy_quick
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)

consents = st.lists(
    st.tuples(
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["marketing", "transactional"]),
        st.sampled_from(["", "education", "reminders"]),
        st.sampled_from(["granted", "withdrawn"]),
        st.integers(min_value=0, max_value=5),  # day; equal days tie-break on id, as in the ledger
    ),
    max_size=5,
)
prefs = st.lists(
    st.tuples(
        st.sampled_from(["type", "other-type", "education", "reminders", ""]),
        st.sampled_from(["", "email", "sms"]),
        st.booleans(),
    ),
    max_size=4,
    unique_by=lambda p: (p[0], p[1]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    consents=consents,
    prefs=prefs,
    suppressed=st.booleans(),
    channel=st.sampled_from(["email", "sms"]),
    purpose=st.sampled_from(["marketing", "transactional"]),
    category=st.sampled_from(["education", "reminders"]),
    preference_policy=st.sampled_from(["opt_out", "opt_in", "required"]),
)
def test_the_fast_check_agrees_with_the_full_checks(
    catalogue, consents, prefs, suppressed, channel, purpose, category, preference_policy
):
    ntype = catalogue["payment_reminder"]
    other = catalogue["monthly_report"]
    with transaction.atomic():
        recipient = RecipientFactory(external_id="prop", email="Prop@Example.com", phone="+14155550177")
        address = policy.address_key(channel, recipient.address_for(channel))
        if suppressed:
            Suppression.objects.create(channel=channel, address=address, reason="manual", created_at=T0)
        for ch, purp, cat, action, day in consents:
            ConsentRecord(
                recipient=recipient,
                channel=ch,
                purpose=purp,
                category=cat,
                action=action,
                source="api",
                created_at=T0 + timedelta(days=day),
            ).save()
        for scope, ch, enabled in prefs:
            Preference.objects.create(
                recipient=recipient,
                notification_type=ntype if scope == "type" else other if scope == "other-type" else None,
                category=scope if scope not in ("type", "other-type") else "",
                channel=ch,
                enabled=enabled,
            )
        ntype.purpose, ntype.category, ntype.preference_policy = purpose, category, preference_policy

        facts = policy_facts(recipient_ids=[recipient.pk], addresses=[(recipient.organisation_id, channel, address)])
        (full,) = policy.person_checks(
            [policy.PersonCheck.of(recipient=recipient, ntype=ntype, channel=channel)], facts=facts
        )
        quick = policy_quick(
            recipient_id=recipient.pk,
            organisation_id=recipient.organisation_id,
            channel=channel,
            address=address,
            purpose=purpose,
            category=category,
            type_id=ntype.pk,
        )
        fast = policy.quick_verdicts(
            quick,
            channel=channel,
            address=recipient.address_for(channel),
            purpose=purpose,
            category=category,
            type_key=ntype.key,
            policy=preference_policy,
        )
        assert (fast is not None) == (not full[-1].refused), (full, quick)
        lean = policy_quick(
            recipient_id=recipient.pk,
            organisation_id=recipient.organisation_id,
            channel=channel,
            address=address,
            purpose=purpose,
            category=category,
            type_id=ntype.pk,
            lean=True,
        )  # what every send asks
        assert policy.quick_refuses(lean, purpose=purpose, policy=preference_policy) == full[-1].refused, (full, lean)
        # a claimed batch's re-check answers from the facts it read for the whole batch
        question = policy.PersonCheck.of(recipient=recipient, ntype=ntype, channel=channel)
        from_facts = policy.quick_from_facts(facts, question)
        assert policy.quick_refuses(from_facts, purpose=purpose, policy=preference_policy) == full[-1].refused
        assert policy.person_refusals([question, question]) == [full[-1] if full[-1].refused else None] * 2
        if fast is not None:  # the trace reads the same whichever path wrote it
            assert fast == full, (fast, full)
        transaction.set_rollback(True)
