from django.urls import path

from . import contract

# The seed contract (see contract.py). Paths are exactly the documented ones, with and without a slash.
contract_urlpatterns = []
for suffix in ("", "/"):
    contract_urlpatterns += [
        path(f"send{suffix}", contract.ContractSendView.as_view()),
        path(f"status/<str:task_id>{suffix}", contract.ContractStatusView.as_view()),
        path(f"cancel/<str:task_id>{suffix}", contract.ContractCancelView.as_view()),
        path(f"batch{suffix}", contract.ContractBatchView.as_view()),
        path(f"health{suffix}", contract.ContractHealthView.as_view()),
        path(f"trigger-types{suffix}", contract.ContractTriggerTypesView.as_view()),
    ]
