from django.urls import re_path

from . import contract

# The seed contract (see contract.py): exactly the documented paths, with or without a trailing slash.
contract_urlpatterns = [
    re_path(r"^send/?$", contract.ContractSendView.as_view()),
    re_path(r"^status/(?P<task_id>[^/]+)/?$", contract.ContractStatusView.as_view()),
    re_path(r"^cancel/(?P<task_id>[^/]+)/?$", contract.ContractCancelView.as_view()),
    re_path(r"^batch/?$", contract.ContractBatchView.as_view()),
    re_path(r"^health/?$", contract.ContractHealthView.as_view()),
    re_path(r"^trigger-types/?$", contract.ContractTriggerTypesView.as_view()),
]
